"""An orchestrated run is one ordinary pytest item: what other options and plugins do with items
(`-x`, `--junitxml`) they do with it; and the description's less used keys (`unref_setup_fixtures`,
`interval_hour`) do what 0.0.10's README says."""

import xml.etree.ElementTree as ElementTree

from test_orchestration import make_project, run

FAILING = """
    def boom():
        raise RuntimeError("the device fell over")
"""


def test_junitxml_records_the_run_as_one_testcase_with_its_failure(pytester):
    make_project(pytester, [{"name": "boom"}], events_py=FAILING)
    result = run(pytester, "--run-orch=soak", "--runtime-orch=0.1s", "--junitxml=report.xml")
    result.assert_outcomes(failed=1)
    suite = ElementTree.parse(pytester.path / "report.xml").getroot().find("testsuite")  # noqa: S314 (pytest wrote it)
    (case,) = suite.findall("testcase")
    assert case.get("name") == "soak"
    (failure,) = case.findall("failure")
    assert "the device fell over" in failure.text


def test_x_stops_the_session_at_the_failed_run(pytester):
    make_project(pytester, [{"name": "boom"}], events_py=FAILING)
    result = run(pytester, "--run-orch=soak", "--runtime-orch=0.1s", "-x")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])


def test_unreferenced_setup_fixtures_are_set_up_for_the_run(pytester):
    conftest = """
        import pytest

        @pytest.fixture
        def powered_rig(tmp_path_factory):
            marker = tmp_path_factory.getbasetemp().parent / "powered.txt"
            marker.write_text("on")
            yield
            marker.write_text("off")
    """
    description = {
        "test_name": "soak",
        "total_hours": 1,
        "unref_setup_fixtures": ["powered_rig"],
        "events": [{"name": "nothing"}],
    }
    make_project(
        pytester, None, description=description, events_py="def nothing():\n    pass\n", conftest_py=conftest
    )
    result = run(pytester, "--run-orch=soak", "--runtime-orch=0.1s", f"--basetemp={pytester.path / 'tmp'}")
    result.assert_outcomes(passed=1)
    assert (pytester.path / "powered.txt").read_text() == "off"  # set up, and torn down after the run


def test_interval_hour_is_taken_and_counted_in_hours(pytester):
    sources = """
        import pathlib

        def hourly():
            with (pathlib.Path(__file__).parent / "calls.txt").open("a") as calls:
                calls.write("hourly\\n")
    """
    make_project(pytester, [{"name": "hourly", "interval_hour": 0.0001}], events_py=sources)
    checked = run(pytester, "--load-orch")
    assert checked.ret == 0
    checked.stdout.fnmatch_lines(["*1 description(s) checked, 0 problem(s)*"])
    result = run(pytester, "--run-orch=soak", "--runtime-orch=1s")
    result.assert_outcomes(passed=1)
    # Every 0.36 s of a 1 s run: at 0, 0.36 and 0.72 s.
    assert (pytester.path / "calls.txt").read_text().splitlines() == ["hourly"] * 3
