"""``@require_role(...)``: state-changing API calls need ``Authorization: Bearer <token>`` with the
token of a role the call allows; the admin's is always allowed. No token or an unknown one is
401, a known token of another role 403."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import abort, request

from appliance.auth import ROLES
from appliance.web.services import services

View = Callable[..., Any]


def presented_token() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def require_role(*roles: str) -> Callable[[View], View]:
    if unknown := set(roles) - set(ROLES):
        raise ValueError(f"no such role: {', '.join(sorted(unknown))}")
    allowed = {"admin", *roles}
    takes = " or ".join(f"the {role} token" for role in sorted(allowed))

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            held = services().credentials.roles_of(presented_token())
            if not held:
                abort(
                    401, description=f"this call changes state: send Authorization: Bearer <token>, {takes}"
                )
            if not held & allowed:
                abort(403, description=f"this call takes {takes}, not the {' or '.join(sorted(held))} token")
            return view(*args, **kwargs)

        return wrapper

    return decorate
