"""``GET /healthz``: is the server up, which version, and can it use its database."""

from __future__ import annotations

import time

from flask import Blueprint, jsonify
from sqlalchemy.exc import SQLAlchemyError

from appliance import __version__
from appliance.web.services import services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    svc = services()
    body = {
        "ok": True,
        "version": __version__,
        "uptime_seconds": round(time.monotonic() - svc.started, 1),
    }
    try:
        body["schema_version"] = svc.db.schema_version()
        body["instance_id"] = svc.db.instance_id()
        body["database"] = "ok"
    except SQLAlchemyError as exc:
        body["ok"] = False
        body["database"] = f"error: {exc.__class__.__name__}"
        return jsonify(body), 503
    return jsonify(body)
