"""A session under pytest-xdist, reported by its controller to a fake tracker on loopback: one dry
run, then its tests, which run at once, never two shown running. Each session runs in a
subprocess; the tracker's rules are replayed on what it received (``test_progress.replay``)."""

import textwrap
import threading

import pytest
from test_progress import RUN, FakeSender, FakeTracker, replay, warnings_of

from pytest_appliance.progress.one_running import OneRunning

# Two files; their first tests sleep a little, so that they likely run at once. With MEET set
# (under --dist loadfile, each file run by one worker), they wait for each other, so that they surely
# do, then test_x.py's goes on while test_y.py's others come and go.
MEET = """
    import os
    import pathlib
    import time

    import pytest

    HERE = pathlib.Path(__file__).parent


    def meet(me, other):
        (HERE / me).touch()
        for _ in range(3000 if os.environ.get("MEET") else 0):  # 30 s at most: a slow worker
            if (HERE / other).exists():
                break
            time.sleep(0.01)
        time.sleep(0.2)
"""

FILES = {
    "test_x.py": MEET
    + """

    def test_meet():
        meet("x", "y")
        time.sleep(0.5)

    def test_pass():
        time.sleep(0.1)

    def test_fail():
        assert False
    """,
    "test_y.py": MEET
    + """

    @pytest.fixture
    def broken():
        raise RuntimeError("setup")

    def test_meet():
        meet("y", "x")

    def test_skipped():
        pytest.skip("not here")

    def test_error(broken):
        pass

    @pytest.mark.xfail(reason="known")
    def test_xfail():
        time.sleep(0.1)
        assert False
    """,
}

STATUSES = {
    "test_x.py::test_meet": "passed",
    "test_x.py::test_pass": "passed",
    "test_x.py::test_fail": "failed",
    "test_y.py::test_meet": "passed",
    "test_y.py::test_skipped": "warning",
    "test_y.py::test_error": "error",
    "test_y.py::test_xfail": "warning",
}
OUTCOMES = {"passed": 3, "failed": 1, "errors": 1, "skipped": 1, "xfailed": 1}


@pytest.fixture
def tracker():
    server = FakeTracker()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def project(pytester):
    pytest.importorskip("xdist")  # a guard: pytest-xdist is in the dev extra
    for name, text in FILES.items():
        (pytester.path / name).write_text(textwrap.dedent(text))
    return pytester


def dry_run(tracker) -> dict[str, list[str]]:
    """The dry run's tests by scenario; fails if there is more than one dry run."""
    dry_runs = [body for path, body, _ in tracker.posts if path == "/tm_api/dry_run/"]
    assert len(dry_runs) == 1
    assert tracker.posts[0][0] == "/tm_api/dry_run/"
    return {
        scenario["file_path"]: [test["file_name"] for test in scenario["tests"]]
        for scenario in dry_runs[0]["master_scenario"]["scenarios"]
    }


def times(tracker) -> dict[str, list[str]]:
    """Each test's reported start and stop times, by node id."""
    got: dict[str, list[str]] = {}
    for _, body, _ in tracker.posts[1:]:
        got.setdefault(f"{body['file_path']}::{body['file_name']}", []).append(
            body.get("timestamp_start") or body["timestamp_stop"]
        )
    return got


def test_an_xdist_session_is_reported_by_its_controller(project, tracker):
    result = project.runpytest_subprocess(
        "-n", "2", "--progress-url", tracker.url, "--progress-machine", "rig-x"
    )
    result.assert_outcomes(**OUTCOMES)
    assert warnings_of(result) == []
    assert dry_run(tracker) == {
        "test_x.py": ["test_meet", "test_pass", "test_fail"],
        "test_y.py": ["test_meet", "test_skipped", "test_error", "test_xfail"],
    }
    assert replay(tracker) == STATUSES  # and no start while another test was shown running
    assert len(tracker.posts) == 1 + 2 * len(STATUSES)
    assert all(body["machine_name"] == "rig-x" and body["run"] == RUN for _, body, _ in tracker.posts[1:])


def test_tests_running_at_once_are_shown_one_at_a_time_with_their_real_times(project, tracker, monkeypatch):
    monkeypatch.setenv("MEET", "1")
    result = project.runpytest_subprocess("-n", "2", "--dist", "loadfile", "--progress-url", tracker.url)
    result.assert_outcomes(**OUTCOMES)
    assert warnings_of(result) == []
    assert replay(tracker) == STATUSES
    # The two meeting tests ran at once: the one held was sent later, with the times it really had.
    (x_start, x_stop), (y_start, y_stop) = (times(tracker)[f"test_{f}.py::test_meet"] for f in "xy")
    assert x_start < y_stop and y_start < x_stop  # ISO times of one clock and zone, so ordered as text


def test_a_worker_that_crashes_fails_its_test_and_the_rest_is_reported(project, tracker):
    (project.path / "test_z.py").write_text("import os\n\n\ndef test_crash():\n    os._exit(3)\n")
    result = project.runpytest_subprocess("-n", "2", "--progress-url", tracker.url)
    result.stdout.fnmatch_lines(["*crashed while running*test_crash*"])
    assert warnings_of(result) == []
    assert replay(tracker) == {**STATUSES, "test_z.py::test_crash": "failed"}


def test_an_xdist_session_stopped_early_leaves_nothing_waiting_or_running(project, tracker):
    result = project.runpytest_subprocess("-n", "2", "-x", "--progress-url", tracker.url)
    assert result.ret == pytest.ExitCode.INTERRUPTED  # xdist's way of stopping
    assert warnings_of(result) == []
    statuses = replay(tracker)
    assert "waiting" not in statuses.values() and "running" not in statuses.values()
    assert statuses["test_x.py::test_fail"] == "failed"


def test_collect_only_under_xdist_reports_nothing(project, tracker):
    result = project.runpytest_subprocess("-n", "2", "--collect-only", "--progress-url", tracker.url)
    assert result.ret == pytest.ExitCode.OK
    assert tracker.posts == []


def one_running():
    clock = iter(range(100))
    sender = FakeSender()
    group = OneRunning(
        sender, lambda path, index, **body: (path.split("/")[2], index, body), lambda: next(clock)
    )
    return group, sender


def test_a_session_interrupted_with_none_held_cancels_the_shown_test():
    group, sender = one_running()
    group.started(0)  # 0: shown
    group.started(1)  # 1: held, running
    assert group.interrupt() == ({0, 1}, True)  # 2
    assert sender.sent == [
        ("test_start", 0, {"timestamp_start": 0}),
        ("test_stop", 0, {"status": "cancelled", "timestamp_stop": 2}),  # 1, waiting, with it
    ]
    group.finished(1, "passed")
    assert len(sender.sent) == 2


def test_a_session_interrupted_with_a_held_test_ended_sends_it_then_cancels():
    group, sender = one_running()
    group.started(0)  # 0: shown
    group.started(1)  # 1: held
    group.started(2)  # 2: held
    group.finished(1, "failed")  # 3
    assert group.interrupt() == ({0, 1, 2}, True)  # 4
    assert sender.sent == [
        ("test_start", 0, {"timestamp_start": 0}),
        ("test_stop", 0, {"status": "unknown", "timestamp_stop": 4}),  # a cancel would cancel 1
        ("test_start", 1, {"timestamp_start": 1}),
        ("test_stop", 1, {"status": "failed", "timestamp_stop": 3}),
        ("test_start", 2, {"timestamp_start": 2}),
        ("test_stop", 2, {"status": "cancelled", "timestamp_stop": 4}),
    ]


def test_a_session_interrupted_with_every_held_test_ended_leaves_the_cancel_to_its_caller():
    group, sender = one_running()
    group.started(0)
    group.started(1)
    group.finished(1, "passed")
    assert group.interrupt() == ({0, 1}, False)
    assert [(kind, index, body.get("status")) for kind, index, body in sender.sent][1:] == [
        ("test_stop", 0, "unknown"),
        ("test_start", 1, None),
        ("test_stop", 1, "passed"),
    ]
