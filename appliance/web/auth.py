"""``@require_token``: state-changing API calls need ``Authorization: Bearer <token>``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import abort, request

from appliance.auth import token_matches
from appliance.web import services


def presented_token() -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def require_token(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not token_matches(services().token, presented_token()):
            abort(401, description="this call changes state: send Authorization: Bearer <API token>")
        return view(*args, **kwargs)

    return wrapper
