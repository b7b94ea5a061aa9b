"""``@require_role(...)``: state-changing API calls need ``Authorization: Bearer <token>`` with the
token of a role the call allows; the admin's is always allowed. No token or an unknown one is
401, a known token of another role 403."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import abort, request

from appliance.auth import Requirement
from appliance.web.services import services

View = Callable[..., Any]


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header's value; None for any other."""
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def presented_token() -> str | None:
    return bearer_token(request.headers.get("Authorization", ""))


def require_role(*roles: str) -> Callable[[View], View]:
    requirement = Requirement(*roles)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            refused = requirement.refusal(services().credentials, presented_token())
            if refused:
                abort(refused[0], description=refused[1])
            return view(*args, **kwargs)

        return wrapper

    return decorate
