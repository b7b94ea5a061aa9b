"""System-test progress over HTTP, at the seed's paths (``/tm_api/...``, with or without the
trailing slash) so that its test machines report unchanged: reports in (the progress token or the
admin's, a machine's own, or none where ``[progress] allow_anonymous`` says so), the seed's read
endpoints out.
The tracker does the work and the read model says what is shown; this only translates.

Under the server, tests' starts and stops never reach these two views: the event loop answers
them (``reports.py``, by the same rules); the views serve Flask's test client and any WSGI server."""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, abort, jsonify, request

from appliance.ci.protocol import ProtocolError
from appliance.progress import protocol
from appliance.progress.errors import Conflict, NotFound
from appliance.web.auth import View, presented_token
from appliance.web.errors import answer_errors
from appliance.web.inputs import MAX_BODY_BYTES, json_body
from appliance.web.services import services

bp = Blueprint("progress", __name__, url_prefix="/tm_api")

PAGE_SIZE, MAX_PAGE_SIZE, LARGEST_PAGE = 10, 100, 2**31


answer_errors(bp, {ProtocolError: 400, NotFound: 404, Conflict: 409})


def reports(view: View) -> View:
    """Refuse, before the body is read, a client that may not report at all
    (``appliance/progress/reporters.py``); the view checks the machine the report names."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        refused = services().reporters.refusal(presented_token(), request.remote_addr or "")
        if refused:
            abort(refused[0], description=refused[1])
        return view(*args, **kwargs)

    return wrapper


def for_machine(spec: Any) -> Any:
    """``spec`` (a parsed report), once its token may report for the machine it names."""
    refused = services().reporters.machine_refusal(presented_token(), spec.machine_name)
    if refused:
        abort(refused[0], description=refused[1])
    return spec


def _page_arg(key: str, default: int, high: int) -> int:
    value = request.args.get(key)
    if value is None:
        return default
    if not value.isdigit() or not 1 <= int(value) <= high:
        abort(400, description=f"{key} must be an integer from 1 to {high}, got {value[:40]!r}")
    return int(value)


def _page() -> tuple[int, int]:
    return _page_arg("page", 1, LARGEST_PAGE), _page_arg("page_size", PAGE_SIZE, MAX_PAGE_SIZE)


# --- test machines' reports -----------------------------------------------------------------------


@bp.post("/dry_run/", strict_slashes=False)
@reports
def dry_run():
    # A dry run carries every script's source: it may take the whole body the server reads.
    spec = for_machine(protocol.dry_run(json_body(MAX_BODY_BYTES)))
    return jsonify(services().progress.dry_run(spec)), 201


@bp.post("/test_start/", strict_slashes=False)
@reports
def test_start():
    return jsonify(services().progress.report(for_machine(protocol.start_report(json_body())))), 202


@bp.post("/test_stop/", strict_slashes=False)
@reports
def test_stop():
    return jsonify(services().progress.report(for_machine(protocol.stop_report(json_body())))), 202


# --- reading --------------------------------------------------------------------------------------


@bp.get("/machines/", strict_slashes=False)
def machines():
    return jsonify(services().progress.views.machines(*_page()))


@bp.get("/machine_last_data/<id:pk>/", strict_slashes=False)
def machine_last_data(pk: int):
    return jsonify(services().progress.views.machine_last_data(pk))


@bp.get("/machine_dry_run_datas/<id:pk>", strict_slashes=False)
def machine_dry_run_datas(pk: int):
    return jsonify(services().progress.views.machine_runs(pk, *_page()))


@bp.get("/test/<id:pk>", strict_slashes=False)
def test(pk: int):
    return jsonify(services().progress.views.script("test", pk))


@bp.get("/scenario/<id:pk>", strict_slashes=False)
def scenario(pk: int):
    return jsonify(services().progress.views.script("scenario", pk))


@bp.get("/master_scenario/<id:pk>", strict_slashes=False)
def master_scenario(pk: int):
    return jsonify(services().progress.views.script("master_scenario", pk))
