"""The appliance's own CI as monitor sources: a real ``appliance server`` with ``[[ci.repos]]``, its
builds driven through the CI's HTTP API with the token, as a runner drives them."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from appliance import config as config_module
from appliance.lamp.keys import CODES
from appliance.monitor.sources.own_ci import IDLE_SECONDS, OwnCIFeed, RepoBuilds, own_ci_feed
from appliance.monitor.states import State
from tests.ci.conftest import ci_config
from tests.conftest import APPLIANCE, ApplianceServer, http_json, wait_until, write_config
from tests.monitor.conftest import Clock, RunningMonitor, SteppedMonitor, followed_feed

REPO = {"name": "app", "url": "/srv/app.git"}
STALE_AFTER = 60.0


class Runner:
    """Queues commits and runs their builds through the CI's HTTP API, with the token."""

    def __init__(self, server: ApplianceServer, name: str = "r1"):
        self.server = server
        self.name = name
        self.token = (server.data_dir / "secrets" / "api-token").read_text().strip()
        self.post(f"/api/ci/runners/{name}/register", {"capacity": 1})

    def post(self, path: str, body: object = None) -> object:
        status, answer = http_json(
            self.server.url + path, "POST", body, {"Authorization": f"Bearer {self.token}"}
        )
        assert status in (200, 201), (path, status, answer)
        return answer

    def push(self, letter: str) -> int:
        body = {
            "repo": {**REPO, "branch": "main"},
            "commits": [{"sha": letter * 40, "author": "Ada", "message": f"commit {letter}"}],
        }
        return self.post("/api/ci/commits", body)["builds"][0]["id"]

    def claim(self) -> tuple[int, int]:
        work = self.post(f"/api/ci/runners/{self.name}/next?wait=0")
        return work["build"], work["attempt"]

    def finish(self, build: tuple[int, int], status: str) -> None:
        self.post(
            f"/api/ci/builds/{build[0]}/attempts/{build[1]}/result", {"runner": self.name, "status": status}
        )

    def build(self, letter: str, status: str) -> int:
        self.push(letter)
        claimed = self.claim()
        self.finish(claimed, status)
        return claimed[0]


@pytest.fixture
def ci_server(start_server) -> ApplianceServer:
    return start_server(ci_config([REPO]))


@contextmanager
def followed(server: ApplianceServer, token: str | None = None) -> Iterator[RunningMonitor]:
    """The monitor following the own-CI feed of ``server``, with a short back-off."""
    with followed_feed(
        OwnCIFeed(server.url, ["app"], STALE_AFTER, token=token, first_retry=0.05, max_retry=0.2), STALE_AFTER
    ) as running:
        yield running


@pytest.mark.slow
def test_with_closed_reads_the_feed_reads_with_the_monitors_token(start_server):
    server = start_server(ci_config([REPO]) + "\n[auth]\npublic_status = false\n")
    runner = Runner(server)
    monitor_token = (server.data_dir / "secrets" / "monitor-token").read_text().strip()
    with followed(server, monitor_token) as running:
        running.shows(State.UNKNOWN, "LIGHT_BLUE")
        runner.build("a", "failed")
        running.shows(State.FAILURE, "RED")
    with followed(server) as refused:  # without it: the server refuses the feed
        wait_until(lambda: "HTTP 401" in (refused.source()["error"] or ""), what="the feed refused")


@pytest.mark.slow
def test_the_lamp_follows_each_build_as_it_happens(ci_server):
    runner = Runner(ci_server)
    with followed(ci_server) as running:
        running.shows(State.UNKNOWN, "LIGHT_BLUE")
        assert running.source()["detail"] == "no result yet (no build yet)"
        runner.push("a")
        running.shows(State.BUILDING_AFTER_SUCCESS, "CYAN")
        first = runner.claim()
        runner.finish(first, "passed")
        running.shows(State.SUCCESS, "GREEN")
        runner.push("b")
        second = runner.claim()
        running.shows(State.BUILDING_AFTER_SUCCESS, "CYAN")
        runner.finish(second, "failed")
        running.shows(State.FAILURE, "RED")
        runner.push("c")
        third = runner.claim()
        running.shows(State.BUILDING_AFTER_FAILURE, "PINK")
        # The push already shows PINK (queued); the claim's event then makes it "running".
        expected = f"build #{third[0]} cccccccc: running; last result: failed"
        wait_until(lambda: running.source()["detail"] == expected, what=expected)
        runner.finish(third, "passed")
        running.shows(State.SUCCESS, "GREEN")
        assert running.lamp.sent == ["ON", "LIGHT_BLUE", "CYAN", "GREEN", "CYAN", "RED", "PINK", "GREEN"]
        source = running.source()
        assert (source["name"], source["kind"], source["link"], source["detail"], source["error"]) == (
            "app",
            "own_ci",
            f"/ci/builds/{third[0]}",
            f"build #{third[0]} cccccccc: passed",
            None,
        )


@pytest.mark.slow
def test_a_cancelled_build_does_not_decide_and_timed_out_is_a_failure(ci_server):
    runner = Runner(ci_server)
    runner.build("a", "timed_out")
    with followed(ci_server) as running:
        running.shows(State.FAILURE, "RED")
        build = runner.push("b")
        running.shows(State.BUILDING_AFTER_FAILURE, "PINK")
        runner.post(f"/api/ci/builds/{build}/cancel")
        running.shows(State.FAILURE, "RED")
        assert running.lamp.sent == ["ON", "RED", "PINK", "RED"]


@pytest.mark.slow
def test_the_state_at_start_is_read_from_the_api(ci_server):
    runner = Runner(ci_server)
    runner.build("a", "error")
    queued = runner.push("b")
    with followed(ci_server) as running:
        running.shows(State.BUILDING_AFTER_FAILURE, "PINK")
        assert running.lamp.sent == ["ON", "PINK"]
        assert running.source()["detail"] == f"build #{queued} bbbbbbbb: queued; last result: error"


@pytest.mark.slow
def test_a_lost_stream_turns_unreachable_after_stale_after_and_recovers(ci_server):
    """The monitor stepped on a clock the test moves, which the feed shares: only the stream and
    the server act in real time."""
    runner = Runner(ci_server)
    runner.build("a", "passed")
    clock = Clock()
    feed = OwnCIFeed(ci_server.url, ["app"], STALE_AFTER, clock=clock, first_retry=0.05, max_retry=0.2)
    stepped = SteppedMonitor(feed.sources, clock=clock, stale_after=STALE_AFTER)
    feed.start(stepped.monitor.wake)

    def error_at(now: float) -> str | None:
        stepped.at(now)
        return stepped.source()["error"]

    try:
        assert stepped.at(1000) == (State.SUCCESS, "GREEN")
        # Read again long after stale_after, a quiet stream is still good: no news is not staleness.
        lost = 1000 + IDLE_SECONDS
        assert stepped.at(lost) == (State.SUCCESS, "GREEN")
        ci_server.stop()  # while the clock stands at ``lost``
        # The error shows at once; the state stays until stale_after from the loss.
        assert "/events" in wait_until(lambda: error_at(lost), what="the lost stream's error")
        assert stepped.at(lost + STALE_AFTER - 1) == (State.SUCCESS, "GREEN")
        refused = f"cannot connect to {ci_server.url}/events: Connection refused"
        wait_until(lambda: error_at(lost + STALE_AFTER) == refused, what=refused)
        assert stepped.at(lost + STALE_AFTER) == (State.UNREACHABLE, "PURPLE")
        ci_server.start()
        back = lost + STALE_AFTER + 10
        wait_until(lambda: stepped.at(back) == (State.SUCCESS, "GREEN"), what="the stream followed again")
        assert stepped.source()["error"] is None
        runner.push("b")
        wait_until(lambda: stepped.at(back) == (State.BUILDING_AFTER_SUCCESS, "CYAN"), what="the push")
        runner.finish(runner.claim(), "failed")
        wait_until(lambda: stepped.at(back) == (State.FAILURE, "RED"), what="the failed build")
        assert stepped.lamp.sent == ["ON", "GREEN", "PURPLE", "GREEN", "CYAN", "RED"]
    finally:
        feed.close()
        stepped.close()


@pytest.mark.slow
def test_appliance_monitor_shows_the_ci_of_its_config_through_lircd(tmp_path, start_server, lircd):
    server = start_server(ci_config([REPO]))
    runner = Runner(server)
    runner.build("a", "failed")
    config = write_config(
        tmp_path / "monitor.toml",
        server.data_dir,
        server.port,
        f'\n[lamp]\nbackend = "lirc"\n\n[lamp.lirc]\nsocket = "{lircd.socket}"\n' + ci_config([REPO]),
    )
    names = {code: key for key, code in CODES.items()}
    with (tmp_path / "monitor.log").open("wb") as log:
        process = subprocess.Popen(
            [APPLIANCE, "monitor", "--config", str(config)], stdout=log, stderr=log, env=os.environ
        )

    def frames() -> list[str]:
        return [names[code] for code in lircd.codes()]

    try:
        wait_until(lambda: frames() == ["ON", "RED"], what="ON, RED through lircd")
        runner.push("b")
        wait_until(lambda: frames() == ["ON", "RED", "PINK"], what="PINK through lircd")
        runner.finish(runner.claim(), "passed")
        wait_until(lambda: frames() == ["ON", "RED", "PINK", "GREEN"], what="GREEN through lircd")
        _status, body = wait_until(
            lambda: (
                (r := http_json(server.url + "/api/monitor"))[0] == 200 and r[1]["colour"] == "GREEN" and r
            )
        )
        [source] = body["sources"]
        assert (source["kind"], source["name"], source["state"]) == ("own_ci", "app", "success")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert "own CI: following" in (tmp_path / "monitor.log").read_text()


# --- without a server ---------------------------------------------------------------------------


def build(number: int, status: str, attempt: int = 1, finished_at: str | None = None) -> dict:
    return {
        "id": number,
        "repo": "app",
        "short_commit": f"{number:08x}",
        "status": status,
        "attempt": attempt,
        "finished_at": finished_at
        or (f"2026-11-22T10:00:{number:02d}+00:00" if status not in ("queued", "running") else None),
    }


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], State.UNKNOWN),
        (["cancelled"], State.UNKNOWN),
        (["passed"], State.SUCCESS),
        (["failed"], State.FAILURE),
        (["timed_out"], State.FAILURE),
        (["error"], State.FAILURE),
        (["failed", "cancelled"], State.FAILURE),
        (["passed", "queued"], State.BUILDING_AFTER_SUCCESS),
        (["failed", "running"], State.BUILDING_AFTER_FAILURE),
        (["timed_out", "cancelled", "queued"], State.BUILDING_AFTER_FAILURE),
        (["running"], State.BUILDING_AFTER_SUCCESS),
        (["failed", "passed"], State.SUCCESS),
    ],
)
def test_each_build_status_maps_to_a_state(statuses, expected):
    repo = RepoBuilds("app")
    repo.replace_all([build(number, status) for number, status in enumerate(statuses, start=1)])
    assert repo.reading().state is expected


def test_the_build_that_ended_last_decides_as_in_cc_xml():
    repo = RepoBuilds("app")
    repo.apply(build(2, "passed", finished_at="2026-11-22T10:00:01+00:00"))
    repo.apply(build(1, "failed", finished_at="2026-11-22T10:00:09+00:00"))
    assert (repo.reading().state, repo.reading().link) == (State.FAILURE, "/ci/builds/1")


def test_an_event_older_than_what_is_known_is_dropped():
    repo = RepoBuilds("app")
    repo.apply(build(1, "passed"))
    repo.apply(build(1, "running"))  # published late by a slower request thread
    assert repo.reading().state is State.SUCCESS
    repo.apply(build(2, "running", attempt=1))
    repo.apply(build(2, "queued", attempt=1))  # the attempt was lost: queued again, a step forward
    assert repo.builds[2]["status"] == "queued"
    repo.apply(build(2, "queued", attempt=0))  # its first queued event, late
    assert repo.builds[2]["attempt"] == 1


def test_only_the_newest_builds_are_kept_with_the_active_ones_and_the_deciding_one():
    repo = RepoBuilds("app")
    repo.apply(build(1, "running"))
    repo.apply(build(2, "failed"))
    for number in range(3, 300):
        repo.apply(build(number, "cancelled"))
    assert len(repo.builds) == 102 and {1, 2} <= set(repo.builds)
    assert repo.reading().state is State.BUILDING_AFTER_FAILURE


def load(tmp_path: Path, text: str):
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return config_module.load(path)


@pytest.mark.parametrize(
    ("text", "repos"),
    [
        ("", None),
        (ci_config([REPO]), ["app"]),
        ("[monitor]\nown_ci = false\n" + ci_config([REPO]), None),
        (
            "[monitor]\nown_ci = true\n" + ci_config([REPO, {"name": "lib", "url": "/srv/lib.git"}]),
            ["app", "lib"],
        ),
    ],
)
def test_own_ci_is_on_when_the_ci_has_repositories_unless_turned_off(tmp_path, text, repos):
    feed = own_ci_feed(load(tmp_path, text))
    try:
        assert (feed and [source.name for source in feed.sources]) == repos
    finally:
        if feed:
            feed.close()
