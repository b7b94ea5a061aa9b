"""GitHub Actions against a fake GitHub REST API on 127.0.0.1."""

from __future__ import annotations

import pytest

from appliance.config import Secret
from appliance.monitor.settings import GitHubSourceConfig
from appliance.monitor.sources import SourceError
from appliance.monitor.sources.github import GitHubSource
from appliance.monitor.states import State
from tests.monitor.conftest import stepped_monitor
from tests.monitor.fakes import FakeService

RUNS = "/repos/team/app/actions/workflows/ci.yml/runs"
LATEST = {"branch": "main", "per_page": "1"}
COMPLETED = {**LATEST, "status": "completed"}


def run(status: str, conclusion: str | None = None, number: int = 7) -> dict:
    return {
        "id": 30433642 + number,
        "name": "CI",
        "head_branch": "main",
        "run_number": number,
        "event": "push",
        "status": status,
        "conclusion": conclusion,
        "workflow_id": 159038,
        "html_url": f"https://github.com/team/app/actions/runs/{30433642 + number}",
        "created_at": "2026-11-22T10:00:00Z",
        "updated_at": "2026-11-22T10:05:00Z",
    }


def runs(fake: FakeService, *items: dict, when: dict = LATEST, etag: str | None = None) -> None:
    fake.json(RUNS, {"total_count": len(items), "workflow_runs": list(items)}, when=when, etag=etag)


def source(fake: FakeService, http, **changes) -> GitHubSource:
    settings = GitHubSourceConfig(
        api=fake.url, owner="team", repo="app", workflow="ci.yml", interval=0.05, timeout=0.5, **changes
    )
    return GitHubSource(settings, http)


@pytest.mark.parametrize(
    ("conclusion", "expected"),
    [
        ("success", State.SUCCESS),
        ("failure", State.FAILURE),
        ("timed_out", State.FAILURE),
        ("startup_failure", State.FAILURE),
        ("cancelled", State.CANCELLED),
        ("action_required", State.WAITING),
        ("skipped", State.UNKNOWN),
        ("neutral", State.UNKNOWN),
        ("stale", State.UNKNOWN),
    ],
)
def test_each_conclusion_of_a_completed_run(fake, http, conclusion, expected):
    runs(fake, run("completed", conclusion))
    reading = source(fake, http).poll()
    assert (reading.state, reading.detail) == (expected, f"run #7: {conclusion}")
    assert reading.link == "https://github.com/team/app/actions/runs/30433649"


@pytest.mark.parametrize("status", ["queued", "in_progress", "waiting", "requested", "pending"])
@pytest.mark.parametrize(
    ("previous", "expected"),
    [
        ([run("completed", "failure", 6)], State.BUILDING_AFTER_FAILURE),
        ([run("completed", "timed_out", 6)], State.BUILDING_AFTER_FAILURE),
        ([run("completed", "success", 6)], State.BUILDING_AFTER_SUCCESS),
        ([run("completed", "cancelled", 6)], State.BUILDING_AFTER_SUCCESS),
        ([], State.BUILDING_AFTER_SUCCESS),
    ],
)
def test_a_run_in_progress_is_building_after_the_last_completed_one(fake, http, status, previous, expected):
    runs(fake, run(status))
    runs(fake, *previous, when=COMPLETED)
    assert source(fake, http).poll().state is expected


def test_no_run_yet_is_unknown(fake, http):
    runs(fake)
    assert source(fake, http).poll().state is State.UNKNOWN


def test_requests_are_conditional_and_a_304_keeps_the_last_answer(fake, http, monkeypatch):
    monkeypatch.setenv("TEST_GITHUB_TOKEN", "ghp_secrettoken123")
    watched = source(fake, http, token=Secret("env:TEST_GITHUB_TOKEN"))
    runs(fake, run("completed", "failure"), etag='W/"abc"')
    assert watched.poll().state is State.FAILURE
    assert watched.poll().state is State.FAILURE
    first, second = fake.requests_to(RUNS)
    assert "If-None-Match" not in first.headers
    assert second.headers["If-None-Match"] == 'W/"abc"'
    assert second.headers["Authorization"] == "Bearer ghp_secrettoken123"
    assert first.query == LATEST
    runs(fake, run("completed", "success", 8), etag='W/"def"')
    assert watched.poll().state is State.SUCCESS


def test_an_unknown_workflow_is_an_error(fake, http):
    with pytest.raises(SourceError, match=r"HTTP 404 Not Found: http://127.0.0.1:\d+/repos/team/app/actions"):
        source(fake, http).poll()


def test_the_monitor_follows_a_workflow(fake, http):
    runs(fake, run("completed", "success", 6), when=COMPLETED)
    runs(fake, run("completed", "success", 6))
    with stepped_monitor([source(fake, http)]) as stepped:
        assert stepped.at(1000) == (State.SUCCESS, "GREEN")
        runs(fake, run("in_progress"))
        assert stepped.at(1010) == (State.BUILDING_AFTER_SUCCESS, "CYAN")
        runs(fake, run("completed", "failure"))
        assert stepped.at(1020) == (State.FAILURE, "RED")
        assert stepped.source()["name"] == "team/app ci.yml"
