"""The plugin on small generated projects, each run by pytest in a subprocess."""

import json
import textwrap

import pytest

INI = """
[pytest]
orchestration_descriptions = descriptions
orchestration_sources = {sources}
"""


def make_project(pytester, events, sources="events.py", description=None, **files):
    pytester.makeini(INI.format(sources=sources))
    (pytester.path / "descriptions").mkdir(exist_ok=True)
    body = description or {"test_name": "soak", "total_hours": 1, "events": events}
    (pytester.path / "descriptions" / "soak.json").write_text(json.dumps(body))
    for name, text in files.items():
        path = pytester.path / name.replace("__", "/").replace("_py", ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def run(pytester, *args):
    return pytester.runpytest_subprocess(*args)


SEED_EVENTS = [
    {"name": "start_playback", "interval_sec": 0.3, "params": {"video_path": "/videos/clip.mp4"}},
    {"name": "start_streamer", "at_startup": True},
    {"name": "collect_system_report", "at_startup": False, "at_teardown": True},
]

SEED_SOURCES = """
    import json, pathlib

    CALLS = pathlib.Path(__file__).parent / "calls.txt"

    def record(line):
        with CALLS.open("a") as calls:
            calls.write(line + "\\n")

    def start_playback(video_player, video_path, kill_switch, result_reporter):
        video_player.play(video_path, kill_switch, result_reporter)
        record("start_playback " + video_path)

    def start_streamer():
        record("start_streamer")

    def collect_system_report(kill_switch):
        record("collect_system_report set=%s" % kill_switch.is_set())
"""

SEED_CONFTEST = """
    import pytest

    class VideoPlayer:
        def play(self, path, kill_switch, reporter):
            assert not kill_switch.is_set()
            reporter.add_result({"played": path})

    @pytest.fixture
    def video_player():
        return VideoPlayer()
"""


def test_the_seed_example_runs_each_event_on_its_schedule_in_order(pytester):
    make_project(pytester, SEED_EVENTS, events_py=SEED_SOURCES, conftest_py=SEED_CONFTEST)
    result = run(pytester, "--run-orch=soak", "--runtime-orch=1s", "-rP")
    result.assert_outcomes(passed=1)
    calls = (pytester.path / "calls.txt").read_text().splitlines()
    # Fired at 0, 0.3, 0.6 and 0.9 s of the 1 s run; the teardown event after it, with the switch set.
    assert calls.count("start_playback /videos/clip.mp4") == 4
    assert calls.count("start_streamer") == 1
    assert calls[-1] == "collect_system_report set=True"
    result.stdout.fnmatch_lines(["*start_playback: 4 runs, 0 failures, 0 skipped overlaps*"])


def test_the_test_orch_flag_is_the_run_orch_flag(pytester):
    make_project(pytester, [{"name": "nothing"}], events_py="def nothing():\n    pass\n")
    run(pytester, "--test-orch=soak", "--runtime-orch=0.0001").assert_outcomes(passed=1)


def test_a_failing_assert_in_an_event_fails_the_item_with_its_traceback(pytester):
    make_project(
        pytester,
        [{"name": "check", "interval_sec": 0.2}],
        events_py="""
        def check():
            assert 1 + 1 == 3, "arithmetic is broken"
    """,
    )
    result = run(pytester, "--run-orch=soak", "--runtime-orch=0.5s")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*check: 3 runs, 3 failures*", "*error in check at*", "*arithmetic is broken*"]
    )


def test_an_error_sent_through_the_reporter_fails_the_item(pytester):
    make_project(
        pytester,
        [{"name": "report"}],
        events_py="""
        def report(result_reporter):
            result_reporter.add_error("disk full")
    """,
    )
    result = run(pytester, "--run-orch=soak", "--runtime-orch=0.1s")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*error reported: {'error': 'disk full'}*"])


def test_an_event_that_sets_the_kill_switch_ends_the_run_early_and_fails_it(pytester):
    make_project(
        pytester,
        [{"name": "abort", "interval_sec": 0.1}],
        events_py="""
        def abort(kill_switch):
            kill_switch.set()
    """,
    )
    result = run(pytester, "--run-orch=soak", "--runtime-orch=1h")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*abort: * runs*", "*the kill switch was set at * s, before the end at 3600 s*"]
    )


def test_load_orch_names_the_file_and_key_of_each_problem(pytester):
    make_project(
        pytester,
        None,
        events_py="def known():\n    pass\n",
        description={
            "test_name": "soak",
            "total_hours": "three",
            "colour": "red",
            "events": [{"name": "known", "params": {"speed": 2}}, {"name": "unknown"}],
        },
    )
    result = run(pytester, "--load-orch")
    assert result.ret != 0
    assert "soak.json: unknown key 'colour'" in result.stdout.str()
    assert "soak.json: 'total_hours' must be a number, not \"three\"" in result.stdout.str()
    pytester.path.joinpath("descriptions", "soak.json").write_text(
        json.dumps(
            {
                "test_name": "soak",
                "total_hours": 1,
                "events": [{"name": "known", "params": {"speed": 2}}, {"name": "unknown"}],
            }
        )
    )
    result = run(pytester, "--load-orch")
    assert result.ret != 0
    assert (
        "soak.json: events[0] (known): params.speed: known() takes no argument 'speed'" in result.stdout.str()
    )
    assert (
        "soak.json: events[1] (unknown): no function 'unknown' in orchestration_sources"
        in result.stdout.str()
    )


def test_load_orch_exits_zero_when_everything_is_valid(pytester):
    make_project(pytester, [{"name": "known", "interval_min": 1}], events_py="def known():\n    pass\n")
    result = run(pytester, "--load-orch")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["orchestration: 1 description(s) checked, 0 problem(s)"])


def test_a_bad_description_stops_a_run_before_anything_runs(pytester):
    make_project(pytester, [{"name": "known", "interval_sec": True}], events_py="def known():\n    1 / 0\n")
    result = run(pytester, "--run-orch=soak")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*soak.json: events[[]0[]]: 'interval_sec' must be a number, not true*"])


def test_a_result_reporter_override_receives_every_result(pytester):
    make_project(
        pytester,
        [{"name": "tell", "interval_sec": 0.25}],
        events_py="""
        def tell(result_reporter):
            result_reporter.add_result("hello")
    """,
        conftest_py="""
        import pytest
        from pytest_appliance.orchestration import ResultReporter

        RECEIVED = []

        class Collecting(ResultReporter):
            def on_result(self, result):
                RECEIVED.append(result)

        @pytest.fixture
        def result_reporter(report_queue):
            yield Collecting(report_queue)
            print("received", RECEIVED)
    """,
    )
    result = run(pytester, "--run-orch=soak", "--runtime-orch=0.6s", "-s")
    result.assert_outcomes(passed=1)
    assert "received ['hello', 'hello', 'hello']" in result.stdout.str()


def test_events_load_from_every_source_with_or_without_spaces(pytester):
    for sources in ("a.py, b.py", "a.py,b.py"):
        make_project(
            pytester,
            [{"name": "from_a"}, {"name": "from_b"}],
            sources=sources,
            a_py="def from_a():\n    print('ran a')\n",
            b_py="def from_b():\n    print('ran b')\n",
        )
        result = run(pytester, "--run-orch=soak", "--runtime-orch=0.1s", "-s")
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines(["*ran a*"])
        result.stdout.fnmatch_lines(["*ran b*"])


def test_a_fixture_from_a_nested_conftest_reaches_an_event(pytester):
    make_project(
        pytester,
        [{"name": "use"}],
        sources="system/events.py",
        conftest_py="""
        import pytest

        @pytest.fixture(scope="session")
        def board():
            return "board"
    """,
        system__conftest_py="""
        import pytest

        @pytest.fixture(scope="module")
        def camera(board):
            return "camera on " + board
    """,
        system__events_py="""
        def use(camera):
            print("got", camera)
    """,
    )
    result = run(pytester, "--run-orch=soak", "--runtime-orch=0.1s", "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*got camera on board*"])


def test_other_tests_are_deselected_and_k_selects_the_run_by_its_name(pytester):
    make_project(
        pytester,
        [{"name": "nothing"}],
        events_py="def nothing():\n    pass\n",
        test_unit_py="def test_unit():\n    pass\n",
    )
    run(pytester, "--run-orch=soak", "--runtime-orch=0.1s").assert_outcomes(passed=1, deselected=1)
    run(pytester, "--run-orch=soak", "--runtime-orch=0.1s", "-k", "not soak").assert_outcomes(deselected=2)


def test_without_options_the_plugin_is_inert(pytester):
    make_project(
        pytester,
        [{"name": "nothing"}],
        events_py="def nothing():\n    raise SystemExit\n",
        test_unit_py="""
        import pytest

        def test_passes():
            pass

        def test_fails():
            assert False

        @pytest.mark.skip
        def test_skipped():
            pass
    """,
    )
    with_plugin = run(pytester)
    without_plugin = run(pytester, "-p", "no:orchestration")
    with_plugin.assert_outcomes(passed=1, failed=1, skipped=1)
    without_plugin.assert_outcomes(passed=1, failed=1, skipped=1)
