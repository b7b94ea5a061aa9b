"""People log in: ``/login`` (the page and its form), ``/logout``, the session cookie and CSRF
protection (Flask-WTF), and ``[auth] public_status = false``, which closes every read to whoever
is neither logged in nor holding a token (``/events`` too: ``stream_reader_allowed``, on the loop).

The session is Flask's signed cookie, keyed by ``<data_dir>/secrets/session-key``; it holds when
the login was made and a fingerprint of the password hash (``web/auth.py``), so it ends after
``[auth] session_hours`` and with a new password. Failed logins are slowed per client address and
overall (``appliance/login.py``): a 429 with ``Retry-After``, never a sleeping thread.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import timedelta
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

from flask import Blueprint, Flask, abort, jsonify, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from itsdangerous import BadSignature

from appliance.auth import session_key
from appliance.config import SYSTEM_CONFIG
from appliance.login import password_fingerprint, password_matches
from appliance.web.auth import (
    LOGIN,
    READ_REFUSAL,
    bearer_token,
    csrf,
    logged_in,
    may_read,
    session_holds_login,
)
from appliance.web.errors import error_body, error_response, wants_json
from appliance.web.services import services

log = logging.getLogger(__name__)

bp = Blueprint("login", __name__)

COOKIE = "appliance_session"
# What stays open with public_status = false: the health check, logging in, the pages' files.
OPEN_ENDPOINTS = {"health.healthz", "login.page", "login.login", "static"}
READING = {"GET", "HEAD"}


def init_app(app: Flask) -> None:
    config = services_of(app).config
    app.secret_key = session_key(config)
    app.config.update(
        SESSION_COOKIE_NAME=COOKIE,
        SESSION_COOKIE_HTTPONLY=True,
        # Lax, not Strict: a link to the appliance from a chat or a mail keeps the login; the CSRF
        # token guards the changes a cross-site request could ask for.
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.auth.secure_cookie,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=config.auth.session_hours),
        SESSION_REFRESH_EACH_REQUEST=False,  # a login lasts from logging in, not from the last click
        WTF_CSRF_CHECK_DEFAULT=False,  # checked where a session is used (web/auth.py), not for tokens
        WTF_CSRF_TIME_LIMIT=None,  # as long as the session: a kiosk's page stays open for hours
    )
    csrf.init_app(app)
    app.register_error_handler(CSRFError, _csrf_refused)
    app.before_request(_close_reads_unless_allowed)
    app.jinja_env.globals["logged_in"] = logged_in
    app.register_blueprint(bp)


def services_of(app: Flask):
    return app.extensions["appliance"]


def _csrf_refused(exc: CSRFError):
    return error_response(403, f"{exc.description} Reload the page and try again.")


def _close_reads_unless_allowed():
    """With ``public_status = false``: a read by anyone not logged in and without a token is sent
    to the login page (a browser) or refused with 401 (a program). Changes are left to
    ``require_role``, which answers for them."""
    if services().config.auth.public_status or request.method not in READING:
        return None
    if request.endpoint in OPEN_ENDPOINTS or may_read():
        return None
    if wants_json():
        abort(401, description=READ_REFUSAL)  # with WWW-Authenticate, as errors.py answers a 401
    return redirect(url_for("login.page", next=request.full_path.rstrip("?")))


def local_path(target: str | None) -> str:
    """Where to go after logging in: ``target`` when it is a path on this server, else ``/``, so
    that a link cannot send a person elsewhere (``//evil``, ``https://evil``, ``/\\evil``)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(ord(character) < 0x20 or character in "\\\x7f" for character in target):
        return "/"
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else "/"


def passwd_command() -> str:
    """The command that sets the password of the configuration file this server runs on."""
    source = services().config.file
    if source is None or source == SYSTEM_CONFIG:
        return "appliance passwd"
    return f"appliance passwd --config {source}"


def _login_answer(status: int, message: str | None, headers: dict[str, str] | None = None):
    if wants_json() and message:
        return jsonify(error_body(status, message)), status, headers or {}
    page = render_template(
        "login.html",
        error=message,
        password_set=bool(services().password_hash.current()),
        passwd_command=passwd_command(),
        next=local_path(request.values.get("next")),
    )
    return page, status, headers or {}


@bp.get("/login")
def page():
    return _login_answer(200, None)


@bp.post("/login")
def login():
    csrf.protect()
    config, throttle = services().config, services().logins
    password_hash = services().password_hash.current()
    address = request.remote_addr or "unknown"
    if not password_hash:
        return _login_answer(403, f"No password is set: run `{passwd_command()}` on the appliance.")
    wait = throttle.wait(address)
    if wait:
        log.warning("login from %s refused: too many failed logins, %d s to wait", address, wait)
        message = f"Too many failed logins: try again in {wait} s."
        return _login_answer(429, message, {"Retry-After": str(wait)})
    if not password_matches(password_hash, request.form.get("password", "")):
        throttle.failed(address)
        log.warning("failed login from %s", address)  # never the password
        return _login_answer(401, "Wrong password.")
    throttle.succeeded(address)
    log.info("login from %s", address)
    session.clear()  # a fresh CSRF token with the new login
    session.permanent = True
    session[LOGIN] = {
        "at": time.time(),
        "password": password_fingerprint(session_key(config), password_hash),
    }
    return redirect(local_path(request.form.get("next")), 303)


@bp.post("/logout")
def logout():
    csrf.protect()
    session.clear()
    return redirect(url_for("login.page"), 303)


# --- /events, on the event loop -------------------------------------------------------------------


def stream_reader_allowed(app: Flask, headers: dict[bytes, bytes]) -> bool:
    """Whether a request for ``/events`` with these headers may read (``public_status``, a token
    or a login), decided on the event loop without Flask's request: the session cookie is opened
    with the application's own signing serializer, as Flask would."""
    parts = services_of(app)
    auth = parts.config.auth
    if auth.public_status:
        return True
    token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
    if parts.credentials.roles_of(token):
        return True
    try:
        cookie = SimpleCookie(headers.get(b"cookie", b"").decode("latin-1")).get(COOKIE)
    except CookieError:
        return False
    serializer = app.session_interface.get_signing_serializer(app)
    if cookie is None or serializer is None:
        return False
    try:
        data = serializer.loads(cookie.value, max_age=math.ceil(auth.session_hours * 3600))
    except BadSignature:
        return False
    return session_holds_login(data, app.secret_key, parts.password_hash.current(), auth.session_hours)
