"""Jenkins jobs against a fake Jenkins JSON API on 127.0.0.1."""

from __future__ import annotations

import base64

import pytest

from appliance.config import Secret
from appliance.monitor.settings import JenkinsSourceConfig
from appliance.monitor.sources import SourceError
from appliance.monitor.sources.jenkins import JenkinsSource
from appliance.monitor.states import State
from tests.monitor.conftest import stepped_monitor
from tests.monitor.fakes import FakeService

JOB = "/job/app"


def build(fake: FakeService, result: str | None, number: int = 12, previous: str | None = None) -> None:
    fake.json(
        f"{JOB}/lastBuild/api/json",
        {
            "_class": "hudson.model.FreeStyleBuild",
            "building": result is None,
            "estimatedDuration": 61234,
            "number": number,
            "result": result,
            "timestamp": 1795000000000,
            "url": f"{fake.url}{JOB}/{number}/",
        },
    )
    if previous:
        completed = {"_class": "hudson.model.FreeStyleBuild", "result": previous}
        fake.json(f"{JOB}/lastCompletedBuild/api/json", completed)


def source(fake: FakeService, http, **changes) -> JenkinsSource:
    return JenkinsSource(
        JenkinsSourceConfig(job=fake.url + JOB + "/", interval=0.05, timeout=0.5, **changes), http
    )


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ("SUCCESS", State.SUCCESS),
        ("UNSTABLE", State.FAILURE),
        ("FAILURE", State.FAILURE),
        ("ABORTED", State.CANCELLED),
        ("NOT_BUILT", State.UNKNOWN),
    ],
)
def test_each_result(fake, http, result, expected):
    build(fake, result)
    reading = source(fake, http).poll()
    assert (reading.state, reading.link, reading.detail) == (
        expected,
        f"{fake.url}{JOB}/12/",
        f"build #12: {result}",
    )
    assert fake.seen[-1].query == {"tree": "number,url,result,building,timestamp,estimatedDuration"}


@pytest.mark.parametrize(
    ("previous", "expected"),
    [
        ("FAILURE", State.BUILDING_AFTER_FAILURE),
        ("UNSTABLE", State.BUILDING_AFTER_FAILURE),
        ("SUCCESS", State.BUILDING_AFTER_SUCCESS),
        ("ABORTED", State.BUILDING_AFTER_SUCCESS),
        (None, State.BUILDING_AFTER_SUCCESS),  # the first build ever: no lastCompletedBuild (404)
    ],
)
def test_a_build_in_progress_is_building_after_the_last_completed_one(fake, http, previous, expected):
    build(fake, None, previous=previous)
    assert source(fake, http).poll().state is expected


def test_a_job_never_built_is_unknown_and_a_missing_job_an_error(fake, http):
    fake.json(f"{JOB}/api/json", {"_class": "hudson.model.FreeStyleProject", "name": "app"})
    assert source(fake, http).poll().state is State.UNKNOWN
    fake.clear()
    with pytest.raises(SourceError, match=r"HTTP 404 Not Found: http://127.0.0.1:\d+/job/app/api/json"):
        source(fake, http).poll()


def test_basic_authentication_with_the_api_token(fake, http, monkeypatch):
    monkeypatch.setenv("TEST_JENKINS_TOKEN", "11f2a3b4c5d6e7f8")
    build(fake, "SUCCESS")
    source(fake, http, username="lamp", token=Secret("env:TEST_JENKINS_TOKEN")).poll()
    assert (
        fake.seen[-1].headers["Authorization"]
        == "Basic " + base64.b64encode(b"lamp:11f2a3b4c5d6e7f8").decode()
    )


def test_the_monitor_follows_a_job(fake, http):
    build(fake, "SUCCESS")
    with stepped_monitor([source(fake, http)]) as stepped:
        assert stepped.at(1000) == (State.SUCCESS, "GREEN")
        build(fake, None, 13, previous="SUCCESS")
        assert stepped.at(1010) == (State.BUILDING_AFTER_SUCCESS, "CYAN")
        build(fake, "UNSTABLE", 13)
        assert stepped.at(1020) == (State.FAILURE, "RED")
        build(fake, "ABORTED", 14)
        assert stepped.at(1030) == (State.CANCELLED, "BROWN")
        assert stepped.source()["name"] == "app"
