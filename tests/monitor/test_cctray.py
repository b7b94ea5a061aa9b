"""CCTray XML feeds against a fake feed on 127.0.0.1."""

from __future__ import annotations

import base64
from xml.sax.saxutils import quoteattr

import pytest

from appliance.config import Secret
from appliance.monitor.settings import CCTraySourceConfig
from appliance.monitor.sources import SourceError
from appliance.monitor.sources.cctray import CCTraySource
from appliance.monitor.states import State
from tests.monitor.conftest import stepped_monitor
from tests.monitor.fakes import Answer, FakeService

FEED = "/cc.xml"


def publish(fake: FakeService, *projects: tuple[str, str, str]) -> None:
    """Serve a feed of (name, activity, lastBuildStatus) projects, as Jenkins writes it."""
    entries = "".join(
        f"<Project name={quoteattr(name)} activity={quoteattr(activity)} lastBuildStatus={quoteattr(status)}"
        f' lastBuildLabel="42" lastBuildTime="2026-11-22T10:00:00Z" webUrl="http://ci.example/job/{name}/"/>'
        for name, activity, status in projects
    )
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Projects>{entries}</Projects>'.encode()
    fake.answer(FEED, Answer(body=body, content_type="application/xml"))


def source(fake: FakeService, http, **changes) -> CCTraySource:
    return CCTraySource(CCTraySourceConfig(url=fake.url + FEED, interval=0.05, timeout=0.5, **changes), http)


@pytest.mark.parametrize(
    ("activity", "status", "expected"),
    [
        ("Sleeping", "Success", State.SUCCESS),
        ("Sleeping", "Failure", State.FAILURE),
        ("CheckingModifications", "Exception", State.FAILURE),
        ("Sleeping", "Unknown", State.UNKNOWN),
        ("Sleeping", "Pending", State.UNKNOWN),  # any other value means Unknown
        ("Building", "Success", State.BUILDING_AFTER_SUCCESS),
        ("Building", "Failure", State.BUILDING_AFTER_FAILURE),
        ("Building", "Exception", State.BUILDING_AFTER_FAILURE),
        ("Building", "Unknown", State.BUILDING_AFTER_SUCCESS),
    ],
)
def test_each_activity_and_last_build_status(fake, http, activity, status, expected):
    publish(fake, ("app", activity, status))
    reading = source(fake, http).poll()
    assert reading.state is expected
    assert reading.link == "http://ci.example/job/app/"
    assert reading.detail == f"{activity}, last build {status} (42)"


def test_the_worst_of_the_projects_watched(fake, http):
    publish(
        fake, ("api", "Sleeping", "Success"), ("web", "Building", "Failure"), ("docs", "Sleeping", "Failure")
    )
    reading = source(fake, http).poll()
    assert (reading.state, reading.link) == (State.FAILURE, "http://ci.example/job/docs/")
    assert reading.detail == "3 projects; not passing: web, docs"
    reading = source(fake, http, projects=["api", "web"]).poll()
    assert (reading.state, reading.link) == (State.BUILDING_AFTER_FAILURE, "http://ci.example/job/web/")
    assert source(fake, http, projects="api").poll().state is State.SUCCESS
    with pytest.raises(SourceError, match=r"the feed has no project 'mobile' \(it has: api, docs, web\)"):
        source(fake, http, projects=["api", "mobile"]).poll()


def test_an_empty_feed_is_unknown(fake, http):
    publish(fake)
    assert source(fake, http).poll().state is State.UNKNOWN


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<Projects><Project name='a'", "invalid XML from http://127.0.0.1:"),
        (b"<html><body>Login</body></html>", "not a CCTray feed: http://127.0.0.1:"),
    ],
)
def test_a_feed_that_is_not_cctray_is_an_error(fake, http, body, message):
    fake.answer(FEED, Answer(body=body, content_type="text/html"))
    with pytest.raises(SourceError, match=message):
        source(fake, http).poll()


def test_basic_authentication_and_the_password_never_in_an_error(fake, http, monkeypatch):
    monkeypatch.setenv("TEST_CC_PASSWORD", "pa55-w0rd-xyz")
    watched = source(fake, http, username="lamp", password=Secret("env:TEST_CC_PASSWORD"))
    publish(fake, ("app", "Sleeping", "Success"))
    assert watched.poll().state is State.SUCCESS
    assert (
        fake.seen[-1].headers["Authorization"] == "Basic " + base64.b64encode(b"lamp:pa55-w0rd-xyz").decode()
    )
    fake.fail(FEED, 401, "pa55-w0rd-xyz is wrong")
    with pytest.raises(SourceError) as raised:
        watched.poll()
    assert "HTTP 401" in str(raised.value)
    assert "pa55-w0rd-xyz" not in str(raised.value)


def test_the_monitor_follows_a_feed(fake, http):
    publish(fake, ("app", "Sleeping", "Success"))
    with stepped_monitor([source(fake, http)]) as stepped:
        assert stepped.at(1000) == (State.SUCCESS, "GREEN")
        publish(fake, ("app", "Building", "Success"))
        assert stepped.at(1010) == (State.BUILDING_AFTER_SUCCESS, "CYAN")
        publish(fake, ("app", "Sleeping", "Failure"))
        assert stepped.at(1020) == (State.FAILURE, "RED")
        publish(fake, ("app", "Building", "Failure"))
        assert stepped.at(1030) == (State.BUILDING_AFTER_FAILURE, "PINK")
        assert stepped.source()["name"] == f"cc.xml on {fake.url.removeprefix('http://')}"
