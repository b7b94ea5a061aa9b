"""The status page at ``/`` and its JSON twin ``/api/status``."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from appliance import __version__
from appliance.notices import read_notices
from appliance.pistate import system_notices
from appliance.stack import stack_state
from appliance.web import showroom
from appliance.web.services import services

bp = Blueprint("status", __name__)


def status() -> dict:
    svc = services()
    latest = svc.monitor.get()
    report = latest.to_json() if latest else None
    stack = stack_state(svc.supervisor)
    pi_state = system_notices(
        report=report,
        stack=stack,
        data_dir=svc.config.data_dir,
        disk_warning_percent=svc.config.server.disk_warning_percent,
    )
    return {
        "version": __version__,
        "notices": read_notices(svc.config.server.notices_dir) + pi_state,
        "monitor": report,
        "stack": stack,
        "showroom": showroom.summary(),
    }


@bp.get("/")
def page():
    return render_template("status/index.html", status=status())


@bp.get("/api/status")
def api():
    return jsonify(status())
