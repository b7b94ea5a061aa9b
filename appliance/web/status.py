"""The wall at ``/`` and its JSON twin ``/api/status``: the lamp, every source, the CI's
repositories, the test machines and the demos, as ``appliance.web.wall`` reads them.

``?kiosk=1`` lays the page out for a TV; ``[server] hide_names`` (or ``?names=0``, which can only
hide more) leaves out who broke a build, from the page and its JSON alike."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, jsonify, render_template, request

from appliance import __version__
from appliance.config import SYSTEM_CONFIG
from appliance.notices import read_notices
from appliance.progress.pages import PageViews
from appliance.stack import stack_state
from appliance.web import showroom, wall
from appliance.web.services import services

bp = Blueprint("status", __name__)


def names_hidden() -> bool:
    return services().config.server.hide_names or request.args.get("names") == "0"


def status() -> dict:
    svc = services()
    report = svc.monitor.get()
    now = datetime.now(UTC)
    monitor = report.to_json() if report else None
    if monitor:  # each source with its tile's tone and how long it has been broken
        monitor["sources"] = wall.source_tiles(monitor["sources"], now)
    return {
        "version": __version__,
        "notices": read_notices(svc.config.server.notices_dir),
        "monitor": monitor,
        "repos": wall.repo_tiles(svc.dispatcher.views, names_hidden(), now),
        "machines": wall.machine_tiles(PageViews(svc.progress.views)),
        "names_hidden": names_hidden(),
        "stack": stack_state(svc.supervisor),
        "showroom": showroom.summary(),
    }


@bp.get("/")
def page():
    current = status()
    config = services().config
    return render_template(
        "status/index.html",
        status=current,
        empty=wall.is_empty(current),
        config_file=config.file or SYSTEM_CONFIG,
        first_source=wall.FIRST_SOURCE,
        first_repo=wall.FIRST_REPO,
        simulate_command=wall.SIMULATE_COMMAND,
    )


@bp.get("/api/status")
def api():
    return jsonify(status())
