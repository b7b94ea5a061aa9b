"""The monitor reports here (``PUT /api/monitor``); the status page shows the latest report."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify

from appliance.monitor.report import ReportError, parse_report
from appliance.web.auth import require_role
from appliance.web.inputs import json_body
from appliance.web.services import services

bp = Blueprint("monitor", __name__)

# A report of a hundred sources with long error texts stays well under this.
MAX_REPORT_BYTES = 256 * 1024


@bp.put("/api/monitor")
@require_role("monitor")
def report():
    try:
        parsed = parse_report(json_body(MAX_REPORT_BYTES))
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
