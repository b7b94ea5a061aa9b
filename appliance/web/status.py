"""The status page at ``/`` and its JSON twin ``/api/status``."""

from __future__ import annotations

from flask import Blueprint, jsonify, render_template

from appliance import __version__
from appliance.notices import read_notices
from appliance.stack import stack_state
from appliance.web import showroom
from appliance.web.services import services

bp = Blueprint("status", __name__)


def status() -> dict:
    report = services().monitor.get()
    return {
        "version": __version__,
        "notices": read_notices(services().config.server.notices_dir),
        "monitor": report.to_json() if report else None,
        "stack": stack_state(services().supervisor),
        "showroom": showroom.summary(),
    }


@bp.get("/")
def page():
    return render_template("status/index.html", status=status())


@bp.get("/api/status")
def api():
    return jsonify(status())
