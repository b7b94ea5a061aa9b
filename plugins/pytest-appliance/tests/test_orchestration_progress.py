"""Orchestrated runs reported live to a fake tracker: each planned firing a test of the run's
scenario. Each session runs in a subprocess; the tracker's rules are replayed on what it received."""

import json
import textwrap
import threading

import pytest
from test_progress import FakeSender, FakeTracker, last_run, real_harness, warnings_of
from test_progress import replay as replay_all

from pytest_appliance.progress.orchestrated import MAX_FIRINGS, RUN_TEST, OrchestratedReport

INI = """
[pytest]
orchestration_descriptions = descriptions
orchestration_sources = events.py
"""


@pytest.fixture
def tracker():
    server = FakeTracker()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def run(pytester, tracker, events, source, runtime, *args):
    pytester.makeini(INI)
    (pytester.path / "descriptions").mkdir(exist_ok=True)
    description = {"test_name": "soak", "total_hours": 1, "events": events}
    (pytester.path / "descriptions" / "soak.json").write_text(json.dumps(description))
    (pytester.path / "events.py").write_text(textwrap.dedent(source))
    return pytester.runpytest_subprocess(
        "--run-orch=soak", f"--runtime-orch={runtime}", "--progress-url", tracker.url, *args
    )


def scenario(tracker) -> dict:
    """The dry run's one scenario, the run's."""
    path, dry_run, _ = tracker.posts[0]
    assert path == "/tm_api/dry_run/"
    (only,) = dry_run["master_scenario"]["scenarios"]
    return only


def replay(tracker) -> dict[str, str]:
    """``test_progress.replay`` of the run's one scenario, by the tests' names."""
    scenario(tracker)
    return {key.partition("::")[2]: status for key, status in replay_all(tracker).items()}


def test_each_firing_is_a_test_of_the_runs_scenario_reported_as_it_fires(pytester, tracker):
    events = [
        {"name": "tick", "interval_sec": 0.3},
        {"name": "boot"},
        {"name": "report", "at_startup": False, "at_teardown": True},
    ]
    source = """
        def tick():
            pass

        def boot():
            pass

        def report(kill_switch):
            assert kill_switch.is_set()
    """
    result = run(pytester, tracker, events, source, "1s", "--progress-machine", "rig-1")
    result.assert_outcomes(passed=1)
    assert warnings_of(result) == []
    only = scenario(tracker)
    assert (only["file_name"], only["file_path"]) == ("soak", "events.py")
    assert [test["file_name"] for test in only["tests"]] == [
        "tick #1 (+0 s)",
        "boot (startup)",
        "tick #2 (+0.3 s)",
        "tick #3 (+0.6 s)",
        "tick #4 (+0.9 s)",
        "report (teardown)",
        RUN_TEST,
    ]
    assert all(test["file_path"] == "events.py" for test in only["tests"])
    assert set(replay(tracker).values()) == {"passed"}
    for path, body, _ in tracker.posts[1:]:
        assert body["machine_name"] == "rig-1"
        assert "timestamp_start" in body if path.endswith("start/") else "timestamp_stop" in body


def test_a_failing_firing_is_failed_and_fails_the_item(pytester, tracker):
    source = """
        CALLS = []

        def check():
            CALLS.append(1)
            assert len(CALLS) != 2, "the second check fails"
    """
    result = run(pytester, tracker, [{"name": "check", "interval_sec": 0.3}], source, "1s")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the second check fails*"])
    assert replay(tracker) == {
        "check #1 (+0 s)": "passed",
        "check #2 (+0.3 s)": "failed",
        "check #3 (+0.6 s)": "passed",
        "check #4 (+0.9 s)": "passed",
        RUN_TEST: "failed",
    }


def test_a_firing_skipped_for_overlap_is_a_warning(pytester, tracker):
    # The first firing runs until the run's end, so each later one finds it running.
    source = """
        def slow(kill_switch):
            kill_switch.wait(30)
    """
    result = run(pytester, tracker, [{"name": "slow", "interval_sec": 0.2}], source, "1s")
    result.assert_outcomes(passed=1)
    assert replay(tracker) == {
        "slow #1 (+0 s)": "passed",
        "slow #2 (+0.2 s)": "warning",
        "slow #3 (+0.4 s)": "warning",
        "slow #4 (+0.6 s)": "warning",
        "slow #5 (+0.8 s)": "warning",
        RUN_TEST: "passed",
    }


@pytest.mark.parametrize("overlap", ["parallel", "queue"])
def test_firings_running_at_once_never_show_two_running_tests(pytester, tracker, overlap):
    events = [
        {"name": "slow", "interval_sec": 0.2, "overlap": overlap},
        {"name": "other", "interval_sec": 0.3},
    ]
    source = """
        import time

        def slow():
            time.sleep(0.5)

        def other():
            time.sleep(0.1)
    """
    result = run(pytester, tracker, events, source, "1s")
    result.assert_outcomes(passed=1)
    assert warnings_of(result) == []
    statuses = replay(tracker)  # no start while another test ran
    assert len(statuses) == 5 + 4 + 1
    assert set(statuses.values()) == {"passed"}


def test_a_run_ended_by_the_kill_switch_warns_of_the_firings_that_never_came(pytester, tracker):
    events = [
        {"name": "abort", "interval_sec": 0.5},
        {"name": "report", "at_startup": False, "at_teardown": True},
    ]
    source = """
        CALLS = []

        def abort(kill_switch):
            CALLS.append(1)
            if len(CALLS) == 2:
                kill_switch.set()

        def report():
            pass
    """
    result = run(pytester, tracker, events, source, "5s")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the kill switch was set at * s, before the end at 5 s*"])
    assert warnings_of(result) == []
    expected = {"abort #1 (+0 s)": "passed", "abort #2 (+0.5 s)": "failed"}
    expected |= {f"abort #{number} (+{(number - 1) * 0.5:g} s)": "warning" for number in range(3, 11)}
    expected |= {"report (teardown)": "passed", RUN_TEST: "failed"}
    assert replay(tracker) == expected
    assert all(body.get("status") != "cancelled" for _, body, _ in tracker.posts)


def test_a_long_plan_is_cut_with_one_warning_line(pytester, tracker):
    source = """
        def abort(kill_switch):
            kill_switch.set()
    """
    result = run(pytester, tracker, [{"name": "abort", "interval_sec": 1}], source, "1h")
    result.assert_outcomes(failed=1)
    tests = scenario(tracker)["tests"]
    assert len(tests) == MAX_FIRINGS + 1
    assert (tests[0]["file_name"], tests[-2]["file_name"], tests[-1]["file_name"]) == (
        "abort #1 (+0 s)",
        f"abort #{MAX_FIRINGS} (+{MAX_FIRINGS - 1} s)",
        RUN_TEST,
    )
    (line,) = [line for line in warnings_of(result) if "planned firings" in line]
    assert f"only {MAX_FIRINGS} of the 3600 planned firings of soak are reported" in line
    # The 1999 firings that never came take more than the session's last 2 s, perhaps: not checked.
    assert all(body.get("status") != "cancelled" for _, body, _ in tracker.posts)


def test_without_the_orchestration_plugin_sessions_are_reported_as_before(pytester, tracker):
    pytester.makepyfile("def test_one():\n    pass\n")
    result = pytester.runpytest_subprocess("--progress-url", tracker.url, "-p", "no:orchestration")
    result.assert_outcomes(passed=1)
    assert warnings_of(result) == []
    assert [path for path, _, _ in tracker.posts] == [
        "/tm_api/dry_run/",
        "/tm_api/test_start/",
        "/tm_api/test_stop/",
    ]


def test_the_dry_run_never_lists_more_than_5000_tests(pytester, tracker):
    # Any plugin may give an item a plan; these items' firings never fire, so they all never came.
    pytester.makeconftest(
        """
        from pytest_appliance.orchestration import FiringPlan
        from pytest_appliance.orchestration.description import EventSpec

        def pytest_orchestration_plan(item):
            return FiringPlan([EventSpec("tick", interval=1)], 2500)
        """
    )
    pytester.makepyfile("def test_a():\n    pass\n\ndef test_b():\n    pass\n\ndef test_c():\n    pass\n")
    result = pytester.runpytest_subprocess("--progress-url", tracker.url)
    result.assert_outcomes(passed=3)
    tests = [len(scenario["tests"]) for scenario in tracker.posts[0][1]["master_scenario"]["scenarios"]]
    assert tests == [MAX_FIRINGS + 1, MAX_FIRINGS + 1, 5000 - 2 * (MAX_FIRINGS + 1)]
    (line,) = [line for line in warnings_of(result) if "planned firings" in line]
    assert "only 2000 of the 2500 planned firings of test_a; 2000 of the 2500" in line
    assert "997 of the 2500 planned firings of test_c are reported" in line


def test_firings_at_once_are_shown_one_at_a_time_with_their_real_times():
    clock = iter(range(100))
    sender = FakeSender()
    places = {("a",): 0, ("b",): 1, ("c",): 2, ("d",): 3, ("never",): 4}
    report = OrchestratedReport(
        sender, lambda path, index, **body: (path.split("/")[2], index, body), lambda: next(clock), places, 5
    )
    report.begin()  # 0
    report.started(("a",))  # 1: shown
    report.started(("b",))  # 2: held
    report.finished(("c",), "skipped")  # 3: held, ended
    report.started(("d",))  # 4: held
    report.finished(("b",), "failed")  # 5
    assert [(kind, index) for kind, index, _ in sender.sent] == [("test_start", 0)]
    report.finished(("a",), "ok")  # 6: a stops, b and c are sent, d is shown
    report.finished(("d",), "ok")  # 7
    report.end("failed")  # 8
    assert sender.sent == [
        ("test_start", 0, {"timestamp_start": 1}),
        ("test_stop", 0, {"status": "passed", "timestamp_stop": 6}),
        ("test_start", 1, {"timestamp_start": 2}),
        ("test_stop", 1, {"status": "failed", "timestamp_stop": 5}),
        ("test_start", 2, {"timestamp_start": 3}),
        ("test_stop", 2, {"status": "warning", "timestamp_stop": 3}),
        ("test_start", 3, {"timestamp_start": 4}),
        ("test_stop", 3, {"status": "passed", "timestamp_stop": 7}),
        ("test_start", 4, {"timestamp_start": 8}),  # never came
        ("test_stop", 4, {"status": "warning", "timestamp_stop": 8}),
        ("test_start", 5, {"timestamp_start": 0}),  # the whole run
        ("test_stop", 5, {"status": "failed", "timestamp_stop": 8}),
    ]
    assert report.interrupt() == ({0, 1, 2, 3, 4, 5}, False)


@pytest.mark.slow
def test_a_real_tracker_shows_each_firing_and_a_failing_one_fails_the_run(pytester):
    harness = real_harness()
    # In the session's directory: pytest takes the token file's path for an argument, whose
    # directory then bounds where it looks for the ini file.
    server = harness.ApplianceServer(pytester.path / "server")
    server.start()
    try:
        events = [
            {"name": "tick", "interval_sec": 0.3},
            {"name": "boom", "at_startup": False, "interval_sec": 0.5},
        ]
        source = """
            def tick():
                pass

            def boom():
                raise RuntimeError("the device fell over")
        """
        token = server.data_dir / "secrets" / "progress-token"
        result = run(
            pytester,
            server,
            events,
            source,
            "1s",
            "--progress-machine",
            "rig-real",
            "--progress-token-file",
            str(token),
        )
        result.assert_outcomes(failed=1)
        assert warnings_of(result) == []
        run_shown = last_run(server.url, "rig-real")
    finally:
        server.stop()
    (shown,) = run_shown["scenarios"]
    statuses = {test["file_name"]: test["status"] for test in shown["tests"]}
    assert shown["file_name"] == "soak" and run_shown["status"] == "failed"
    assert statuses == {
        "tick #1 (+0 s)": "passed",
        "tick #2 (+0.3 s)": "passed",
        "boom #1 (+0.5 s)": "failed",
        "tick #3 (+0.6 s)": "passed",
        "tick #4 (+0.9 s)": "passed",
        RUN_TEST: "failed",
    }
