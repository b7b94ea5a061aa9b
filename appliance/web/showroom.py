"""The showroom over HTTP: the page ``/showroom`` and its JSON twin ``/api/showroom``, the admin's
calls that deploy, start, stop and destroy demos, and the status page's part. The domain
(``appliance.showroom.demos``) does the work; this checks what a request carries, turns it into
one call and the domain's refusals into answers. The page follows ``showroom`` events on
``/events`` (``static/showroom.js``).

A demo's link is made from the host the client asked for (``Host``), not from this machine's name,
so that it works from wherever the page was opened: ``http://<that host>:<port>/``."""

from __future__ import annotations

import ipaddress
import re
import xmlrpc.client
from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request

from appliance.auth import configured_token, token_file
from appliance.showroom.demos import RESERVED_PARAMS, RUNNING, InstalledDemo, Showroom
from appliance.showroom.errors import DeploymentError, DestructionError, NoSuchDemo, ShowroomUnavailable
from appliance.showroom.layout import check_name
from appliance.web.auth import require_role
from appliance.web.errors import answer_errors, error_body, error_response
from appliance.web.inputs import json_body
from appliance.web.services import services

bp = Blueprint("showroom", __name__)

OFF = "the showroom is off: set [showroom] enabled = true"
MAX_NAME = 63  # a demo's name and a recipe's type, as the domain's NAME allows
MAX_PARAMS = 32
MAX_PARAM_TEXT = 1024
# 32 parameters of 1024 characters, keys and values, each character escaped as \uXXXX at worst.
DEPLOY_BODY_BYTES = 512 * 1024
DEPLOY_FIELDS = ("type", "name", "params")
# The domain's messages that are not a failed installation (DeploymentError carries no code).
DEPLOYMENT_STATUSES = {"this demo already exists": 409, "this demo does not exist": 404}
# A host name as a Host header may carry it (an IPv6 literal is checked apart).
HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})")


class ShowroomOff(Exception):
    """``[showroom] enabled`` is false: the server has no showroom."""


answer_errors(bp, {ShowroomOff: 404, NoSuchDemo: 404, DestructionError: 404, ShowroomUnavailable: 503})


@bp.errorhandler(DeploymentError)
def _not_deployed(exc: DeploymentError):
    status = DEPLOYMENT_STATUSES.get(str(exc))
    if status == 404:  # the domain's words for a type no recipe has
        return error_response(404, f"{exc}: no recipe has that type (GET /api/showroom lists them)")
    if status is not None:
        return error_response(status, str(exc))
    # The recipe's output, when it ran: what a person needs to see why.
    return jsonify({**error_body(422, str(exc)), "log": exc.log}), 422


@bp.errorhandler(xmlrpc.client.Fault)
def _refused_by_supervisord(fault: xmlrpc.client.Fault):
    """``start()`` raises supervisord's Fault when the demo's process does not stay up (SPAWN_ERROR,
    ABNORMAL_TERMINATION): the request was heard, the demo is what failed."""
    if request.endpoint == "showroom.start":
        message = f"the demo's process exited at once: {fault.faultString}; its output is in its logs"
    else:
        message = f"the showroom's supervisord refused: {fault.faultString}"
    return error_response(409, message)


def showroom() -> Showroom:
    found = services().showroom
    if found is None:
        raise ShowroomOff(OFF)
    return found


# --- what the page and the status page show -----------------------------------------------------


def request_host(fallback: str) -> str:
    """The host the client asked for, without its port, as a browser's ``location.hostname`` has it
    (lowercase, an IPv6 address compressed); ``fallback`` for a Host that is no host name."""
    host = request.host
    if host.startswith("["):
        literal = host[1:].partition("]")[0]
        try:
            return f"[{ipaddress.IPv6Address(literal)}]"
        except ValueError:
            return fallback
    name = host.partition(":")[0].lower()
    return name if HOST_NAME.fullmatch(name) else fallback


def demo_url(demo: dict[str, Any], host: str) -> str | None:
    """The demo's link while it runs; the page's script makes it the same way."""
    return f"http://{host}:{demo['port']}/" if demo["status"] == RUNNING and demo["port"] else None


def _for_client(demo: dict[str, Any], room: Showroom) -> dict[str, Any]:
    return {**demo, "url": demo_url(demo, request_host(room.public_host))}


def overview() -> dict[str, Any]:
    """``/api/showroom``, and what ``/showroom`` shows: one call to the showroom's supervisord."""
    room = services().showroom
    if room is None:
        return {"enabled": False, "reachable": False, "error": OFF, "recipes": {}, "demos": []}
    recipes = room.available()
    try:
        demos = [_for_client(demo, room) for demo in room.installed()]
    except ShowroomUnavailable as exc:
        return {"enabled": True, "reachable": False, "error": str(exc), "recipes": recipes, "demos": []}
    return {"enabled": True, "reachable": True, "error": None, "recipes": recipes, "demos": demos}


def summary() -> dict[str, Any]:
    """The status page's part (``/api/status``'s ``showroom``): how many demos (None while that is
    not known), the running ones with their links; one call to the showroom's supervisord."""
    room = services().showroom
    if room is None:
        return {"enabled": False, "reachable": False, "error": OFF, "deployed": None, "running": []}
    try:
        demos = room.installed()
    except ShowroomUnavailable as exc:
        return {"enabled": True, "reachable": False, "error": str(exc), "deployed": None, "running": []}
    host = request_host(room.public_host)
    running = [
        {"name": demo["name"], "type": demo["type"], "url": demo_url(demo, host)}
        for demo in demos
        if demo["status"] == RUNNING
    ]
    return {"enabled": True, "reachable": True, "error": None, "deployed": len(demos), "running": running}


def token_hint() -> str:
    """Where a person finds the admin token."""
    config = services().config
    if configured_token(config, "admin") is not None:
        return "the [auth] token of the appliance's configuration"
    return str(token_file(config, "admin"))


# --- what a request carries -----------------------------------------------------------------------


def _text(value: object, field: str, limit: int, required: bool = True) -> str:
    if not isinstance(value, str):
        abort(400, description=f"{field} must be text")
    if required and not value:
        abort(400, description=f"{field} must not be empty")
    if len(value) > limit:
        abort(400, description=f"{field} must be at most {limit} characters, not {len(value)}")
    if "\0" in value:
        abort(400, description=f"{field} must not hold a NUL character")
    return value


def _checked_name(name: str, field: str = "name") -> str:
    _text(name, field, MAX_NAME)
    try:
        return check_name(name)
    except ValueError as exc:
        abort(400, description=f"{field}: {exc}")


def _deployment(body: object) -> tuple[str, str, dict[str, str]]:
    """``{"type", "name", "params": {str: str}}``, checked; 400 naming the field otherwise."""
    if not isinstance(body, dict):
        abort(400, description='the body must be a JSON object: {"type", "name", "params"}')
    if unknown := [key for key in body if key not in DEPLOY_FIELDS]:
        abort(400, description=f"unknown field {unknown[0]!r}: a deployment takes type, name and params")
    for key in ("type", "name"):
        if key not in body:
            abort(400, description=f"{key} is required")
    type_ = _text(body["type"], "type", MAX_NAME)
    name = _checked_name(body["name"])
    params = body.get("params", {})
    if not isinstance(params, dict):
        abort(400, description="params must be an object of text values")
    if len(params) > MAX_PARAMS:
        abort(400, description=f"params may hold at most {MAX_PARAMS} entries, not {len(params)}")
    for key, value in params.items():
        _text(key, "a key of params", MAX_PARAM_TEXT)
        _text(value, f"params[{key!r}]", MAX_PARAM_TEXT, required=False)
    return type_, name, params


def _check_params(room: Showroom, type_: str, params: dict[str, str]) -> None:
    """A parameter the recipe does not read, or one the showroom gives, is the client's to fix: 400
    (the domain refuses them too, should the recipes change meanwhile)."""
    recipe = room.available().get(type_)
    if recipe is None:
        return  # the domain says there is no such recipe
    for key in params:
        if key.upper() in RESERVED_PARAMS:
            abort(400, description=f"params[{key!r}]: the parameter {key!r} is the showroom's to give")
        if key not in recipe["params"]:
            takes = ", ".join(p for p in recipe["params"] if p.upper() not in RESERVED_PARAMS) or "none"
            abort(
                400,
                description=f"params[{key!r}]: the recipe {type_} has no such parameter (it has: {takes})",
            )


def _demo(name: str) -> InstalledDemo:
    checked = _checked_name(name)
    return showroom().demo(checked)


def _info(demo: InstalledDemo) -> dict[str, Any]:
    info = demo.info()
    if info is None:  # destroyed meanwhile
        raise NoSuchDemo("this demo does not exist")
    return _for_client(info, demo.showroom)


# --- the API --------------------------------------------------------------------------------------


@bp.get("/api/showroom")
def api():
    return jsonify(overview())


@bp.post("/api/showroom/demos")
@require_role()
def deploy():
    # The body first: a wrong one is the client's to fix whether the showroom is on or off.
    type_, name, params = _deployment(json_body(DEPLOY_BODY_BYTES))
    room = showroom()
    _check_params(room, type_, params)
    return jsonify(_info(room.deploy(type_, name, params))), 201


@bp.get("/api/showroom/demos/<name>")
def demo(name: str):
    return jsonify(_info(_demo(name)))


@bp.post("/api/showroom/demos/<name>/start")
@require_role()
def start(name: str):
    """200 with the demo's info also when Apache refused its vhost: the info says so
    (``apache_error``, status STOPPED)."""
    found = _demo(name)
    found.start()
    return jsonify(_info(found))


@bp.post("/api/showroom/demos/<name>/stop")
@require_role()
def stop(name: str):
    found = _demo(name)
    found.stop()
    return jsonify(_info(found))


@bp.delete("/api/showroom/demos/<name>")
@require_role()
def destroy(name: str):
    _demo(name).destroy()
    return jsonify(ok=True)


@bp.get("/api/showroom/demos/<name>/logs")
def logs(name: str):
    return jsonify(_demo(name).logs())


# --- the page -------------------------------------------------------------------------------------


@bp.get("/showroom")
def page():
    return render_template(
        "showroom/index.html", showroom=overview(), token_hint=token_hint(), reserved=RESERVED_PARAMS
    )
