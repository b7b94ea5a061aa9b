"""The system-test progress tracker as monitor sources, one per test machine: a real ``appliance
server``, reported to over ``/tm_api/...`` with the progress token as a test machine reports, and the
monitor's loop, in real time or stepped on a clock the test moves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from appliance import config as config_module
from appliance.lamp.keys import CODES
from appliance.monitor.sources.progress import Machine, ProgressFeed, progress_feed
from appliance.monitor.states import State
from tests.conftest import APPLIANCE, ApplianceServer, http_json, wait_until, write_config
from tests.monitor.conftest import Clock, RunningMonitor, SteppedMonitor, followed_feed
from tests.progress.conftest import dry_run, start, stop

STALE_AFTER = 60.0
INTERRUPTED_AFTER = 30.0  # the server's and the monitor's, from one config as in production
SERVER_CONFIG = f"\n[progress]\ninterrupted_after = {INTERRUPTED_AFTER:g}\n"
# The seed's dry run (tests/progress/conftest.py): its four tests, by file and folder.
TESTS = [
    ("01_01_test_lamp.py", "01_feature_lamp"),
    ("01_02_test_lamp.py", "01_feature_lamp"),
    ("01_01_test_lamp.py", "01_feature_lamp"),
    ("01_01_test_door.py", "02_feature_door"),
]


class Bench:
    """Reports as the seed's test machines do, with the progress token."""

    def __init__(self, server: ApplianceServer, name: str = "machine #1"):
        self.server = server
        self.name = name
        self.token = (server.data_dir / "secrets" / "progress-token").read_text().strip()

    def post(self, path: str, body: dict, expected: int) -> dict:
        status, answer = http_json(
            self.server.url + path, "POST", body, {"Authorization": f"Bearer {self.token}"}
        )
        assert status == expected, (path, status, answer)
        return answer

    def dry_run(self) -> int:
        return self.post("/tm_api/dry_run/", dry_run(self.name), 201)["run"]

    def start(self, index: int) -> None:
        file_name, folder = TESTS[index]
        self.post("/tm_api/test_start/", start(file_name, folder, machine=self.name), 202)

    def stop(self, index: int, status: str) -> None:
        file_name, folder = TESTS[index]
        self.post("/tm_api/test_stop/", stop(file_name, status, folder, machine=self.name), 202)

    def test(self, index: int, status: str) -> None:
        self.start(index)
        self.stop(index, status)

    def run(self, *statuses: str) -> int:
        run = self.dry_run()
        for index, status in enumerate(statuses):
            self.test(index, status)
        return run


@pytest.fixture
def server(start_server) -> ApplianceServer:
    return start_server(SERVER_CONFIG)


@contextmanager
def followed(server: ApplianceServer) -> Iterator[RunningMonitor]:
    """The monitor following the progress feed of ``server``, with a short back-off."""
    with followed_feed(
        ProgressFeed(server.url, STALE_AFTER, INTERRUPTED_AFTER, first_retry=0.05, max_retry=0.2), STALE_AFTER
    ) as running:
        yield running


@contextmanager
def stepped(server: ApplianceServer, **options) -> Iterator[SteppedMonitor]:
    """The monitor stepped on a clock the test moves, which the feed shares: only the stream and
    the server act in real time."""
    clock = Clock()
    feed = ProgressFeed(
        server.url, STALE_AFTER, INTERRUPTED_AFTER, clock=clock, first_retry=0.05, max_retry=0.2, **options
    )
    monitor = SteppedMonitor(feed.sources, clock=clock, stale_after=STALE_AFTER)
    feed.start(monitor.monitor.wake)
    try:
        yield monitor
    finally:
        feed.close()
        monitor.close()


@pytest.mark.slow
def test_a_machine_shows_as_a_tile_from_its_dry_run_to_its_last_test(server):
    machine = Bench(server)
    with followed(server) as running:
        running.shows(State.UNKNOWN, "LIGHT_BLUE")  # no machine, no source
        assert running.monitor.report()["sources"] == []
        first = machine.dry_run()
        running.shows(State.BUILDING_AFTER_SUCCESS, "CYAN")
        source = running.source()
        assert (source["name"], source["kind"], source["detail"]) == (
            "machine #1",
            "progress",
            f"run #{first}: waiting, 0 of 4 done",
        )
        machine.test(0, "passed")
        machine.start(1)
        expected = f"run #{first}: running, 1 of 4 done"
        wait_until(lambda: running.source()["detail"] == expected, what=expected)
        machine.stop(1, "failed")  # the run goes on, but the lamp turns red at once
        running.shows(State.FAILURE, "RED")
        machine.test(2, "passed")
        machine.test(3, "warning")
        expected = f"run #{first}: 1 of 4 failed or errored"
        wait_until(lambda: running.source()["detail"] == expected, what=expected)
        second = machine.dry_run()
        running.shows(State.BUILDING_AFTER_FAILURE, "PINK")
        for index, status in enumerate(["passed", "warning", "passed", "passed"]):
            machine.test(index, status)
        running.shows(State.SUCCESS, "GREEN")
        assert running.lamp.sent == ["ON", "LIGHT_BLUE", "CYAN", "RED", "PINK", "GREEN"]
        source = running.source()
        assert (source["state"], source["link"], source["detail"], source["error"]) == (
            "success",
            "/tm_api/machine_last_data/1/",
            f"run #{second}: warning, 4 tests",
            None,
        )


@pytest.mark.slow
def test_an_errored_test_is_a_failure_and_each_machine_is_its_own_tile(server):
    one, two = Bench(server, "bench-1"), Bench(server, "bench-2")
    one.run("passed", "passed", "passed", "passed")
    with followed(server) as running:
        running.shows(State.SUCCESS, "GREEN")
        two.dry_run()
        running.shows(State.BUILDING_AFTER_SUCCESS, "CYAN")
        two.test(0, "error")
        running.shows(State.FAILURE, "RED")
        names = [(s["name"], s["state"]) for s in running.monitor.report()["sources"]]
        assert names == [("bench-1", "success"), ("bench-2", "failure")]


@pytest.mark.slow
def test_the_state_at_start_is_read_from_the_api(server):
    clean, failed, cancelled = (Bench(server, name) for name in ("clean", "failed", "cancelled"))
    clean.run("passed", "warning", "passed", "passed")
    failed.run("passed", "failed", "passed", "passed")
    failed.dry_run()  # going on after a failed run
    cancelled.dry_run()
    cancelled.start(0)
    cancelled.stop(0, "cancelled")
    with stepped(server) as monitor:
        assert monitor.at(1000) == (State.BUILDING_AFTER_FAILURE, "PINK")
        states = [(s["name"], s["state"]) for s in monitor.monitor.report()["sources"]]
        assert states == [
            ("clean", "success"),
            ("failed", "building_after_failure"),
            ("cancelled", "cancelled"),
        ]
        assert monitor.source(1)["detail"] == "run #3: waiting, 0 of 4 done; last run: failed"


@pytest.mark.slow
def test_a_run_silent_past_interrupted_after_is_unreachable_until_its_machine_reports(server):
    machine = Bench(server)
    run = machine.dry_run()
    machine.start(0)
    with stepped(server) as monitor:
        assert monitor.at(1000) == (State.BUILDING_AFTER_SUCCESS, "CYAN")
        # No event comes: the source is due again when the run would turn interrupted, not before.
        [watched] = monitor.monitor.watched
        assert 1000 + INTERRUPTED_AFTER - 1 < watched.next_due <= 1000 + INTERRUPTED_AFTER
        assert monitor.at(1000 + INTERRUPTED_AFTER - 1) == (State.BUILDING_AFTER_SUCCESS, "CYAN")
        assert monitor.at(1000 + INTERRUPTED_AFTER) == (State.UNREACHABLE, "PURPLE")
        source = monitor.source()
        assert source["detail"] == f"run #{run} interrupted: no report for 30 s"
        assert source["error"] is None  # the feed is fine; the machine is silent
        machine.stop(0, "passed")
        later = 1000 + INTERRUPTED_AFTER + 5
        wait_until(lambda: monitor.at(later) == (State.BUILDING_AFTER_SUCCESS, "CYAN"), what="the report")
        assert monitor.lamp.sent == ["ON", "CYAN", "PURPLE", "CYAN"]


@pytest.mark.slow
def test_a_run_already_interrupted_at_connection_is_unreachable_at_once(server):
    machine = Bench(server)
    machine.dry_run()
    # The machine's last report was long ago by the wall clock the feed reads its age with.
    with stepped(server, wall_clock=lambda: time.time() + INTERRUPTED_AFTER + 60) as monitor:
        assert monitor.at(1000) == (State.UNREACHABLE, "PURPLE")
        machine.start(0)
        wait_until(lambda: monitor.at(1000) == (State.BUILDING_AFTER_SUCCESS, "CYAN"), what="the report")


@pytest.mark.slow
def test_a_lost_stream_keeps_the_state_for_stale_after_then_unreachable(server):
    Bench(server).run("passed", "passed", "passed", "passed")
    with stepped(server) as monitor:
        assert monitor.at(1000) == (State.SUCCESS, "GREEN")
        server.stop()
        wait_until(lambda: monitor.at(1000) and monitor.source()["error"], what="the lost stream's error")
        assert monitor.at(1000 + STALE_AFTER - 1) == (State.SUCCESS, "GREEN")
        assert monitor.at(1000 + STALE_AFTER) == (State.UNREACHABLE, "PURPLE")
        server.start()
        back = 1000 + STALE_AFTER + 10
        wait_until(lambda: monitor.at(back) == (State.SUCCESS, "GREEN"), what="the stream followed again")


@pytest.mark.slow
def test_appliance_monitor_shows_the_test_machines_when_progress_is_on(tmp_path, server, lircd):
    Bench(server).run("passed", "error")
    config = write_config(
        tmp_path / "monitor.toml",
        server.data_dir,
        server.port,
        f'\n[lamp]\nbackend = "lirc"\n\n[lamp.lirc]\nsocket = "{lircd.socket}"\n\n'
        "[monitor]\nprogress = true\n" + SERVER_CONFIG,
    )
    names = {code: key for key, code in CODES.items()}
    with (tmp_path / "monitor.log").open("wb") as log:
        process = subprocess.Popen(
            [APPLIANCE, "monitor", "--config", str(config)], stdout=log, stderr=log, env=os.environ
        )
    try:
        wait_until(lambda: [names[code] for code in lircd.codes()] == ["ON", "RED"], what="ON, RED")
        _status, body = wait_until(
            lambda: (r := http_json(server.url + "/api/monitor"))[0] == 200 and r[1]["colour"] == "RED" and r
        )
        [source] = body["sources"]
        assert (source["kind"], source["name"], source["state"]) == ("progress", "machine #1", "failure")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert "test progress: following" in (tmp_path / "monitor.log").read_text()


# --- without a server ---------------------------------------------------------------------------


def summary(run: int, status: str, **counts: int) -> dict:
    return {
        "machine": "m",
        "machine_id": 1,
        "run": run,
        "counts": counts,
        "status": status,
        "done": sum(n for s, n in counts.items() if s not in ("running", "waiting")),
        "total": sum(counts.values()),
    }


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        (None, State.UNKNOWN),
        (summary(1, "waiting", waiting=3), State.BUILDING_AFTER_SUCCESS),
        (summary(1, "running", running=1, passed=1, waiting=1), State.BUILDING_AFTER_SUCCESS),
        (summary(1, "running", running=1, failed=1, waiting=1), State.FAILURE),
        (summary(1, "running", running=1, error=1), State.FAILURE),
        (summary(1, "passed", passed=3), State.SUCCESS),
        (summary(1, "warning", passed=2, warning=1), State.SUCCESS),
        (summary(1, "failed", passed=2, failed=1), State.FAILURE),
        (summary(1, "cancelled", passed=1, cancelled=2), State.CANCELLED),
        (summary(1, "cancelled", failed=1, cancelled=2), State.FAILURE),
        (summary(1, "unknown", passed=2, unknown=1), State.UNKNOWN),
        (summary(1, "interrupted", running=1), State.UNREACHABLE),
    ],
)
def test_each_run_maps_to_a_state(run, expected):
    machine = Machine(1, "m")
    if run is not None:
        machine.apply(run, now=0.0)
    assert machine.reading(now=1.0, interrupted_after=INTERRUPTED_AFTER).state is expected


def test_a_run_in_progress_is_coloured_by_the_previous_verdict():
    machine = Machine(1, "m")
    machine.apply(summary(1, "failed", failed=1, passed=1), now=0.0)
    machine.apply(summary(2, "waiting", waiting=2), now=1.0)
    assert machine.reading(1.0, INTERRUPTED_AFTER).state is State.BUILDING_AFTER_FAILURE
    machine.apply(summary(2, "cancelled", cancelled=2), now=2.0)
    machine.apply(summary(3, "running", running=1), now=3.0)  # a cancelled run decides nothing
    assert machine.reading(3.0, INTERRUPTED_AFTER).state is State.BUILDING_AFTER_FAILURE


def test_an_event_older_than_what_is_known_is_dropped():
    machine = Machine(1, "m")
    machine.apply(summary(2, "running", running=1, passed=1), now=5.0)
    machine.apply(summary(2, "waiting", waiting=1, passed=1), now=6.0)  # its start's event, late
    machine.apply(summary(1, "unknown", unknown=2), now=7.0)  # the older run's, late
    assert (machine.run["run"], machine.run["status"], machine.reported_at) == (2, "running", 5.0)


def load(tmp_path: Path, text: str):
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return config_module.load(path)


@pytest.mark.parametrize(("text", "on"), [("", False), ("[monitor]\nprogress = false\n", False),
                                          ("[monitor]\nprogress = true\n", True)])  # fmt: skip
def test_progress_is_off_unless_turned_on(tmp_path, text, on):
    feed = progress_feed(load(tmp_path, text + "\n[progress]\ninterrupted_after = 5\n"))
    try:
        assert (feed is not None) == on
        assert feed is None or (feed.interrupted_after, feed.sources) == (5.0, [])
    finally:
        if feed:
            feed.close()


def test_the_monitor_reads_the_test_statuses_without_the_servers_libraries():
    code = (
        "import sys\n"
        "import appliance.monitor.sources.progress\n"
        "print(sorted({'sqlalchemy', 'flask'} & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
