"""``/metrics`` and ``/cc.xml`` over the real Flask app and SQLite: their figures and projects follow
real events, a build queued and finished through the CI's API, a monitor report put through its
API, a dry run through the progress API."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from appliance.ci.settings import CIConfig, CIRepoConfig
from appliance.config import ServerConfig
from tests.ci.conftest import admin_auth, commits_body
from tests.progress.conftest import dry_run
from tests.test_metrics import parse, value
from tests.web.test_status import RICH_REPORT, put_report

AWKWARD = 'odd "name" \\ with\na line feed'


@pytest.fixture
def make_app(make_configured_app):
    """The app with one CI repository and the ``[server]`` settings given."""
    repos = [CIRepoConfig(name="app", url="/srv/app.git", command="make test")]
    return lambda **server_settings: make_configured_app(
        server=ServerConfig(**server_settings), ci=CIConfig(repos=repos)
    )


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return parse(response.get_data(as_text=True))[0]


def test_metrics_follow_builds_reports_and_dry_runs(make_app):
    app = make_app()
    client, auth = app.test_client(), admin_auth(app)
    before = scrape(client)
    assert value(before, "appliance_ci_queue_length") == 0
    assert value(before, "appliance_ci_builds", repo="app", status="passed") == 0
    assert value(before, "appliance_monitor_reported") == 0
    assert value(before, "appliance_progress_dry_runs_total") == 0

    assert client.post("/api/ci/commits", json=commits_body("a", "b"), headers=auth).status_code == 200
    assert value(scrape(client), "appliance_ci_queue_length") == 2
    client.post("/api/ci/runners/r1/register", json={"capacity": 1}, headers=auth)
    build = client.post("/api/ci/runners/r1/next?wait=0", headers=auth).get_json()["build"]
    result = {"runner": "r1", "status": "failed", "exit_code": 1}
    client.post(f"/api/ci/builds/{build}/attempts/1/result", json=result, headers=auth)
    after_build = scrape(client)
    assert value(after_build, "appliance_ci_queue_length") == 1
    assert value(after_build, "appliance_ci_builds", repo="app", status="failed") == 1
    assert value(after_build, "appliance_ci_builds", repo="app", status="queued") == 1

    report = {
        **RICH_REPORT,
        "sources": [*RICH_REPORT["sources"], {**RICH_REPORT["sources"][0], "name": AWKWARD}],
    }
    put_report(app, report)
    reported = scrape(client)
    assert value(reported, "appliance_monitor_reported") == 1
    assert value(reported, "appliance_lamp_colour", colour="RED") == 1
    assert value(reported, "appliance_lamp_colour", colour="GREEN") == 0
    assert value(reported, "appliance_lamp_state", state="test_failed") == 1
    assert value(reported, "appliance_lamp_backend_ok", backend="lirc") == 0
    assert value(reported, "appliance_lamp_backend_ok", backend="virtual") == 1
    assert value(reported, "appliance_monitor_source_error", source="nightly <main>", kind="jenkins") == 1
    assert value(reported, "appliance_monitor_source_error", source=AWKWARD, kind="octopus") == 0

    token = app.extensions["appliance"].credentials.tokens["progress"]
    sent = client.post("/tm_api/dry_run/", json=dry_run(), headers={"Authorization": f"Bearer {token}"})
    assert sent.status_code == 201
    progress = scrape(client)
    assert value(progress, "appliance_progress_dry_runs_total") == 1
    assert value(progress, "appliance_progress_machines") == 1
    assert value(progress, "appliance_progress_tests", status="waiting") == 4
    assert value(progress, "appliance_supervisor_reachable") == 0


def cc_projects(client) -> dict[str, dict[str, str]]:
    response = client.get("/cc.xml")
    assert response.status_code == 200 and response.mimetype == "application/xml"
    return {p.get("name"): p.attrib for p in ET.fromstring(response.data)}  # noqa: S314 - our own output


def test_cc_xml_lists_the_monitored_sources_only_when_configured(make_app):
    closed = make_app()
    put_report(closed, RICH_REPORT)
    assert list(cc_projects(closed.test_client())) == ["app"]

    app = make_app(cc_xml_sources=True)
    client = app.test_client()
    assert list(cc_projects(client)) == ["app"]  # no report yet: the repositories alone
    own_ci = {"name": "app", "kind": "own_ci", "state": "success"}  # the repository, listed already
    put_report(app, {**RICH_REPORT, "sources": [*RICH_REPORT["sources"], own_ci]})
    projects = cc_projects(client)
    assert list(projects) == ["app", "monitor/integration", "monitor/nightly <main>"]
    assert projects["monitor/integration"] == {
        "name": "monitor/integration",
        "activity": "Sleeping",
        "lastBuildStatus": "Failure",
        "lastBuildLabel": "",
        "lastBuildTime": "2026-11-22T10:00:00+00:00",
        "webUrl": "http://octopus.example/app#/deployments/1",
    }
    unreachable = projects["monitor/nightly <main>"]
    assert (unreachable["lastBuildStatus"], unreachable["webUrl"]) == ("Exception", "http://localhost/")

    building = {"name": "deploy", "kind": "octopus", "state": "building_after_failure", "link": None}
    put_report(app, {**RICH_REPORT, "sources": [building]})
    assert cc_projects(client)["monitor/deploy"]["activity"] == "Building"
    assert cc_projects(client)["monitor/deploy"]["lastBuildStatus"] == "Failure"


def test_a_name_xml_cannot_carry_never_breaks_cc_xml(make_app):
    app = make_app(cc_xml_sources=True)
    odd = {"name": "bell\x07 and \x00 nul\ufffe", "kind": "jenkins", "state": "success"}
    put_report(app, {**RICH_REPORT, "sources": [odd, {**odd, "name": AWKWARD}]})
    projects = cc_projects(app.test_client())
    assert list(projects) == ["app", "monitor/bell\ufffd and \ufffd nul\ufffd", f"monitor/{AWKWARD}"]
