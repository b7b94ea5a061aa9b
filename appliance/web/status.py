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
from appliance.pistate import system_notices
from appliance.progress.pages import PageViews
from appliance.stack import stack_state
from appliance.web import showroom, wall
from appliance.web.services import services

bp = Blueprint("status", __name__)


def names_hidden() -> bool:
    return services().config.server.hide_names or request.args.get("names") == "0"


def status() -> dict:
    svc = services()
    latest = svc.monitor.get()
    now = datetime.now(UTC)
    report = latest.to_json() if latest else None
    stack = stack_state(svc.supervisor)
    # the Pi's banners read the report as the monitor sent it, before the wall's tiles are added
    pi_state = system_notices(
        report=report,
        stack=stack,
        data_dir=svc.config.data_dir,
        disk_warning_percent=svc.config.server.disk_warning_percent,
    )
    monitor = report
    if monitor:  # each source with its tile's tone and how long it has been broken
        monitor = {**monitor, "sources": wall.source_tiles(monitor["sources"], now)}
    return {
        "version": __version__,
        "notices": read_notices(svc.config.server.notices_dir) + pi_state,
        "monitor": monitor,
        "repos": wall.repo_tiles(svc.dispatcher.views, names_hidden(), now),
        "machines": wall.machine_tiles(PageViews(svc.progress.views)),
        "names_hidden": names_hidden(),
        "stack": stack,
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
