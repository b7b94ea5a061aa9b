"""GitLab pipelines against a fake GitLab REST API on 127.0.0.1."""

from __future__ import annotations

import pytest

from appliance.config import Secret
from appliance.monitor.settings import GitLabSourceConfig
from appliance.monitor.sources import SourceError
from appliance.monitor.sources.gitlab import GitLabSource
from appliance.monitor.states import State
from tests.monitor.conftest import stepped_monitor
from tests.monitor.fakes import FakeService

PROJECT = "/api/v4/projects/group%2Fapp"  # a full path is one URL segment


def pipeline(status: str, number: int = 1001) -> dict:
    return {
        "id": number,
        "iid": number - 1000,
        "project_id": 42,
        "sha": "a91957a858320c0e17f3a0eca7cfacbff50ea29a",
        "ref": "main",
        "status": status,
        "source": "push",
        "web_url": f"https://gitlab.example.com/group/app/-/pipelines/{number}",
    }


def latest(fake: FakeService, status: str, previous: str | None = None) -> None:
    fake.json(f"{PROJECT}/pipelines/latest", pipeline(status), when={"ref": "main"})
    finished = [pipeline(previous, 1000)] if previous else []
    fake.json(f"{PROJECT}/pipelines", finished, when={"ref": "main", "scope": "finished", "per_page": "1"})


def source(fake: FakeService, http, **changes) -> GitLabSource:
    values = {
        "api": fake.url + "/api/v4",
        "project": "group/app",
        "interval": 0.05,
        "timeout": 0.5,
        **changes,
    }
    return GitLabSource(GitLabSourceConfig(**values), http)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("success", State.SUCCESS),
        ("failed", State.FAILURE),
        ("canceled", State.CANCELLED),
        ("manual", State.WAITING),
        ("scheduled", State.QUEUED),
        ("skipped", State.UNKNOWN),
    ],
)
def test_each_finished_status(fake, http, status, expected):
    latest(fake, status)
    reading = source(fake, http).poll()
    assert (reading.state, reading.link) == (
        expected,
        "https://gitlab.example.com/group/app/-/pipelines/1001",
    )


@pytest.mark.parametrize("status", ["created", "waiting_for_resource", "preparing", "pending", "running"])
@pytest.mark.parametrize(
    ("previous", "expected"),
    [
        ("failed", State.BUILDING_AFTER_FAILURE),
        ("success", State.BUILDING_AFTER_SUCCESS),
        (None, State.BUILDING_AFTER_SUCCESS),
    ],
)
def test_a_running_pipeline_is_building_after_the_last_finished_one(fake, http, status, previous, expected):
    latest(fake, status, previous)
    assert source(fake, http).poll().state is expected


def test_the_token_is_sent_and_never_shown(fake, http, monkeypatch):
    monkeypatch.setenv("TEST_GITLAB_TOKEN", "glpat-s3cr3t")
    watched = source(fake, http, token=Secret("env:TEST_GITLAB_TOKEN"))
    latest(fake, "success")
    assert watched.poll().state is State.SUCCESS
    assert fake.seen[-1].headers["PRIVATE-TOKEN"] == "glpat-s3cr3t"
    fake.fail(f"{PROJECT}/pipelines/latest", 403, "glpat-s3cr3t: insufficient scope")
    with pytest.raises(SourceError) as raised:
        watched.poll()
    assert str(raised.value).startswith("HTTP 403 Forbidden from http://127.0.0.1:")
    assert "glpat-s3cr3t" not in str(raised.value)


def test_a_project_without_pipelines_is_unknown_and_a_missing_project_an_error(fake, http):
    fake.json(PROJECT, {"id": 42, "path_with_namespace": "group/app"})
    reading = source(fake, http).poll()
    assert (reading.state, reading.detail) == (State.UNKNOWN, "no pipeline for main yet")
    with pytest.raises(
        SourceError, match=r"HTTP 404 Not Found: http://127.0.0.1:\d+/api/v4/projects/group%2Fnope$"
    ):
        source(fake, http, project="group/nope").poll()


def test_the_monitor_follows_a_pipeline(fake, http):
    latest(fake, "success")
    with stepped_monitor([source(fake, http)]) as stepped:
        assert stepped.at(1000) == (State.SUCCESS, "GREEN")
        latest(fake, "running", "success")
        assert stepped.at(1010) == (State.BUILDING_AFTER_SUCCESS, "CYAN")
        latest(fake, "failed")
        assert stepped.at(1020) == (State.FAILURE, "RED")
        latest(fake, "pending", "failed")
        assert stepped.at(1030) == (State.BUILDING_AFTER_FAILURE, "PINK")
