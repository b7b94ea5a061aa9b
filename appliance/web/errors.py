"""One error shape: ``{"ok": false, "error": ..., "status": ...}`` for API clients, a page for
browsers. Every error goes through here, so no client ever sees a stack trace."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

# Paths whose clients are programs, whatever their Accept header says.
API_PREFIXES = ("/api/", "/healthz", "/events", "/tm_api/", "/cc.xml")


def wants_json() -> bool:
    if request.path.startswith(API_PREFIXES):
        return True
    # Browsers name text/html; curl and scripts send */* and get JSON.
    accept = request.accept_mimetypes
    return accept["text/html"] < accept["application/json"] or "text/html" not in accept.values()


def error_body(status: int, message: str) -> dict:
    """The one shape of every error a program receives, from Flask or from the event loop."""
    return {"ok": False, "error": message, "status": status}


def error_response(status: int, message: str) -> tuple[Response | str, int]:
    if wants_json():
        return jsonify(error_body(status, message)), status
    return render_template("error.html", status=status, message=message), status


def answer_errors(bp: Blueprint, statuses: dict[type[Exception], int]) -> None:
    """Answer each of a capability's refusals with its status, in the one shape: a blueprint
    maps its domain's exceptions, never builds an error of its own."""
    for exception, status in statuses.items():
        bp.register_error_handler(exception, lambda exc, status=status: error_response(status, str(exc)))


def _http_error(exc: HTTPException):
    response = error_response(exc.code or 500, exc.description or exc.name)
    body, status = response
    if exc.code == 405 and exc.valid_methods:
        return body, status, {"Allow": ", ".join(exc.valid_methods)}
    if exc.code == 401:
        return body, status, {"WWW-Authenticate": 'Bearer realm="appliance"'}
    return response


def _unexpected(exc: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_response(500, InternalServerError.description)


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
