"""``/cc.xml`` over the real Flask app and SQLite: its projects follow real events, a monitor
report put through its API."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from appliance.ci.settings import CIConfig, CIRepoConfig
from appliance.config import Config, ServerConfig
from appliance.web import create_app
from tests.web.test_status import RICH_REPORT, put_report

AWKWARD = 'odd "name" \\ with\na line feed'


@pytest.fixture
def make_app(tmp_path):
    apps = []

    def make(**server_settings):
        config = Config(
            data_dir=tmp_path / "data",
            server=ServerConfig(**server_settings),
            ci=CIConfig(repos=[CIRepoConfig(name="app", url="/srv/app.git", command="make test")]),
        )
        application = create_app(config)
        apps.append(application)
        return application

    yield make
    for application in apps:
        application.extensions["appliance"].close()


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
