"""The monitor reports here (``PUT /api/monitor``); the status page shows the latest report."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from appliance.monitor.report import ReportError, parse_report
from appliance.web import services
from appliance.web.auth import require_token

bp = Blueprint("monitor", __name__)


@bp.put("/api/monitor")
@require_token
def report():
    body = request.get_json(silent=True)
    if body is None:
        abort(400, description="expected a JSON body (Content-Type: application/json)")
    try:
        parsed = parse_report(body)
    except ReportError as exc:
        abort(400, description=str(exc))
    svc = services()
    if svc.monitor.replace(parsed):
        svc.bus.publish("monitor", parsed.to_json())
    return "", 204


@bp.get("/api/monitor")
def show():
    current = services().monitor.get()
    if current is None:
        abort(404, description="the monitor has not reported yet")
    return jsonify(current.to_json())
