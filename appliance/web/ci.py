"""The CI over HTTP: the runners' and the observer's API (token), read-only JSON and pages for
people, the push webhook, and ``/cc.xml`` for CCTray readers (with the monitored sources too,
when configured). The dispatcher does the work, the read
model (``appliance.ci.views``) says what is shown; this only turns requests into calls and their
results into answers."""

from __future__ import annotations

from flask import Blueprint, Response, abort, jsonify, render_template, request, url_for

from appliance import cctray as cc
from appliance.ci import protocol, webhooks
from appliance.ci.dispatcher import Dispatcher, TooManyWaiting
from appliance.ci.errors import Conflict, LogOffsetMismatch, LogTooLarge, NotFound
from appliance.ci.views import Views
from appliance.web.auth import require_role
from appliance.web.errors import answer_errors, error_body, error_response
from appliance.web.inputs import json_body
from appliance.web.server import disconnection
from appliance.web.services import services

bp = Blueprint("ci", __name__)

MAX_LOG_APPEND = 1024 * 1024
LOG_PAGE = 1024 * 1024


def dispatcher() -> Dispatcher:
    return services().dispatcher


def views() -> Views:
    return services().dispatcher.views


answer_errors(bp, {protocol.ProtocolError: 400, NotFound: 404, Conflict: 409, LogTooLarge: 413})


@bp.errorhandler(TooManyWaiting)
def _too_many_waiting(exc: Exception):
    body, status = error_response(503, str(exc))
    return body, status, {"Retry-After": "5"}


def _body() -> object:
    return json_body()


# Query integers stay below 2**53 (what JSON and JavaScript count exactly): the sum of two of
# them, an offset and a limit, is still far inside SQLite's 64-bit INTEGER.
LARGEST_QUERY_INT = 2**53


def _int_arg(key: str, default: int | None, low: int = 0, high: int = LARGEST_QUERY_INT) -> int | None:
    value = request.args.get(key)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        abort(400, description=f"{key} must be an integer, got {value!r}")
    if not low <= number <= high:
        abort(400, description=f"{key} must be between {low} and {high}, got {number}")
    return number


# --- runners --------------------------------------------------------------------------------------


@bp.post("/api/ci/runners/<name>/register")
@require_role("runner")
def register(name: str):
    labels, capacity, held = protocol.registration(_body())
    return jsonify(dispatcher().register(protocol.name(name, "runner"), labels, capacity, held))


@bp.post("/api/ci/runners/<name>/next")
@require_role("runner")
def next_build(name: str):
    wait = request.args.get("wait", "0")
    try:
        seconds = max(0.0, float(wait))
    except ValueError:
        abort(400, description=f"wait must be a number of seconds, got {wait!r}")
    work = dispatcher().next(protocol.name(name, "runner"), seconds, disconnection())
    return (jsonify(work), 200) if work else ("", 204)


@bp.post("/api/ci/runners/<name>/heartbeat")
@require_role("runner")
def heartbeat(name: str):
    actions = dispatcher().heartbeat(protocol.name(name, "runner"), protocol.held_builds(_body()))
    return jsonify(
        builds=[{"build": build, "attempt": attempt, "action": a} for (build, attempt), a in actions.items()]
    )


@bp.post("/api/ci/builds/<id:build_id>/attempts/<id:attempt>/log")
@require_role("runner")
def append_log(build_id: int, attempt: int):
    offset = _int_arg("offset", None)
    if offset is None:
        abort(400, description="offset is required: the byte position of this chunk in the log")
    if (request.content_length or 0) > MAX_LOG_APPEND:
        abort(413, description=f"send the log in chunks of at most {MAX_LOG_APPEND} bytes")
    try:
        size = dispatcher().append_log(build_id, attempt, offset, request.get_data())
    except LogOffsetMismatch as exc:
        # GitLab's rule: the server says where it is, the runner resends from there.
        return jsonify({**error_body(409, str(exc)), "offset": exc.offset}), 409
    return jsonify(offset=size)


@bp.post("/api/ci/builds/<id:build_id>/attempts/<id:attempt>/result")
@require_role("runner")
def result(build_id: int, attempt: int):
    runner, outcome = protocol.result(_body())
    return jsonify(dispatcher().finish(build_id, attempt, runner, outcome))


# --- observer, webhook, people --------------------------------------------------------------------


@bp.post("/api/ci/commits")
@require_role("observer")
def commits():
    """The observer's new commits of a repository of ``[[ci.repos]]``, which it names: 404 for
    any other. What the builds run comes from the configuration, never from the request."""
    repo, items = protocol.commits(_body())
    queued = dispatcher().add_commits(repo, items)
    return jsonify(builds=[{"id": build_id, "created": created} for build_id, created in queued])


@bp.post("/api/ci/hooks/<repo>")
def hook(repo: str):
    """A push webhook (GitHub, Gitea) makes the observer look now. The payload is not trusted
    for anything: the observer reads the commits from git itself."""
    try:
        services().webhooks.take(repo, request.get_data(), request.headers.get("X-Hub-Signature-256"))
    except webhooks.UnknownRepository as exc:
        abort(404, description=str(exc))
    except webhooks.BadSignature as exc:
        abort(401, description=str(exc))
    except webhooks.AlreadyReceived as exc:
        abort(409, description=str(exc))
    services().bus.publish("ci.hook", {"repo": repo})
    return jsonify(ok=True, repo=repo), 202


@bp.post("/api/ci/builds/<id:build_id>/cancel")
@require_role("admin")
def cancel(build_id: int):
    return jsonify(dispatcher().cancel(build_id))


@bp.post("/api/ci/rebuild")
@require_role("admin")
def rebuild():
    commit_prefix, repo = protocol.rebuild(_body())
    return jsonify(dispatcher().rebuild(commit_prefix, repo)), 201


# --- reading --------------------------------------------------------------------------------------


@bp.get("/api/ci/builds")
def builds():
    limit = _int_arg("limit", 50, 1, 1000)
    return jsonify(builds=views().builds(request.args.get("repo"), limit))


@bp.get("/api/ci/builds/<id:build_id>")
def build(build_id: int):
    return jsonify(views().build(build_id))


@bp.get("/api/ci/builds/<id:build_id>/log")
def read_log(build_id: int):
    """The raw bytes of an attempt's log (the latest unless ``attempt``) from ``offset``; the
    size so far in ``X-Log-Size``, so a reader asks again from where it stopped."""
    latest = views().build(build_id)["attempt"]
    attempt = _int_arg("attempt", latest, 1)
    offset = _int_arg("offset", 0)
    limit = _int_arg("limit", None, 1)
    size, chunks = views().log(build_id, attempt, offset, limit, LOG_PAGE)
    headers = {"X-Log-Size": str(size), "X-Log-Attempt": str(attempt), "X-Log-Offset": str(offset)}
    return Response(chunks, mimetype="text/plain", headers=headers)


@bp.get("/api/ci/runners")
def runners():
    return jsonify(runners=dispatcher().runners())


@bp.get("/api/ci/repos")
def repos():
    return jsonify(repos=views().repositories())


@bp.get("/cc.xml")
def cctray():
    """One ``Project`` per repository, as CCMenu and Nevergreen read Jenkins' ``/cc.xml``; with
    ``[server] cc_xml_sources``, one per monitored source too, so the feed covers the appliance."""
    svc = services()
    projects = views().cctray_projects(
        lambda build_id: url_for("ci.build_page", build_id=build_id, _external=True),
        url_for("ci.index", _external=True),
    )
    report = svc.monitor.get()
    if svc.config.server.cc_xml_sources and report is not None:
        projects += cc.monitored_projects(report.to_json()["sources"], url_for("status.page", _external=True))
    return Response(cc.render(projects), mimetype="application/xml")


@bp.get("/ci")
def index():
    return render_template("ci/index.html", repos=views().repositories())


@bp.get("/ci/builds/<id:build_id>")
def build_page(build_id: int):
    return render_template("ci/build.html", build=views().build(build_id), log_tail=LOG_PAGE)


@bp.get("/ci/runners")
def runners_page():
    return render_template("ci/runners.html", runners=dispatcher().runners())
