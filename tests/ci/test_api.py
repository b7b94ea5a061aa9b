"""The CI's HTTP API through the real Flask app: what runners, the observer and people see."""

import hashlib
import hmac
import xml.etree.ElementTree as ET

import pytest

from tests.ci.conftest import commits_body

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
    ci_client.post("/api/ci/commits", json=commits_body("a", command=""), headers=auth)
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
