"""Who a request is, and ``@require_role(...)``.

Machines send ``Authorization: Bearer <token>`` with the token of a role the call allows (the
admin's always); no token or an unknown one is 401, a known token of another role 403. People log
in (``web/login.py``): a logged-in session counts as the admin, but a change it asks for must also
carry the page's CSRF token (Flask-WTF's, ``X-CSRFToken`` or the form's ``csrf_token``), since a
browser sends the cookie with any site's request. A bearer token is never sent by a browser on its
own, so a request with one needs no CSRF token.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

from flask import abort, current_app, request, session
from flask_wtf.csrf import CSRFProtect

from appliance.auth import Requirement
from appliance.login import password_fingerprint
from appliance.web.services import services

View = Callable[..., Any]
READ_REFUSAL = "log in at /login, or send Authorization: Bearer <token> (any role's)"
LOGIN = "login"  # the session's key for the login: {"at": epoch seconds, "password": fingerprint}

# Checks only where a view calls csrf.protect() (WTF_CSRF_CHECK_DEFAULT is off): token-carrying
# machine calls must not need it.
csrf = CSRFProtect()


def bearer_token(authorization: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header's value; None for any other."""
    scheme, _, value = authorization.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def presented_token() -> str | None:
    return bearer_token(request.headers.get("Authorization", ""))


def session_holds_login(data: Mapping, session_key: str, password_hash: str, hours: float) -> bool:
    """Whether a session's ``data`` is a login made with the current password within ``hours``:
    a new password ends every older login; a login without a password set is none."""
    login = data.get(LOGIN)
    if not isinstance(login, dict) or not password_hash:
        return False
    at = login.get("at")
    if not isinstance(at, (int, float)) or not 0 <= time.time() - at <= hours * 3600:
        return False
    return login.get("password") == password_fingerprint(session_key, password_hash)


def logged_in() -> bool:
    """Whether the current request comes from a person logged in."""
    parts = services()
    password_hash = parts.password_hash.current()
    return session_holds_login(
        session, current_app.secret_key, password_hash, parts.config.auth.session_hours
    )


def may_read() -> bool:
    """Whether the current request may see what ``[auth] public_status = false`` closes: a
    login, or any role's token."""
    return logged_in() or bool(services().credentials.roles_of(presented_token()))


def require_role(*roles: str) -> Callable[[View], View]:
    requirement = Requirement(*roles)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = presented_token()
            if token is None and logged_in():
                csrf.protect()  # raises CSRFError (403, web/login.py) without a valid token
                return view(*args, **kwargs)
            refused = requirement.refusal(services().credentials, token)
            if refused:
                abort(refused[0], description=refused[1])
            return view(*args, **kwargs)

        return wrapper

    return decorate
