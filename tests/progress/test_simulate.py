"""`appliance progress simulate` against the real server: virtual machines post their dry runs and
every test's start and stop, and what the server records is what the seed determined."""

from __future__ import annotations

import signal
import subprocess

from click.testing import CliRunner

from appliance.cli import main
from appliance.config import Config
from appliance.progress.settings import ProgressConfig
from appliance.progress.simulator import Settings, counts, plan, suite
from tests.ci.test_build_box_install import appliance_without_server_libraries, run_without_server_libraries
from tests.conftest import http_json, wait_until, write_config

FAST = ["--test-seconds", "0,0.01"]


def simulate(config, port: int, *args: str):
    command = ["progress", "simulate", "--server", f"http://127.0.0.1:{port}", "--config", str(config)]
    return CliRunner().invoke(main, [*command, *args])


def machines(port: int) -> dict[str, int]:
    status, listed = http_json(f"http://127.0.0.1:{port}/tm_api/machines/")
    assert status == 200
    return {machine["machine_name"]: machine["pk"] for machine in listed["results"]}


def last_run(port: int, machine_id: int) -> dict:
    status, body = http_json(f"http://127.0.0.1:{port}/tm_api/machine_last_data/{machine_id}/")
    assert status == 200
    return body["last_master_scenario"]


def statuses_of(run: dict) -> list[str]:
    return [test["status"] for scenario in run["scenarios"] for test in scenario["tests"]]


def server_with_token(in_process_server, tmp_path):
    """The server, and a config that reads its progress token from the same data directory."""
    _server, port = in_process_server()
    return port, write_config(tmp_path / "appliance.toml", tmp_path / "data", port)


def test_two_machines_report_every_test_as_the_seed_determined(in_process_server, tmp_path):
    port, config = server_with_token(in_process_server, tmp_path)
    result = simulate(config, port, "--machines", "2", "--seed", "7", *FAST)
    assert result.exit_code == 0, result.output
    listed = machines(port)
    assert sorted(listed) == ["virtual machine #1", "virtual machine #2"]
    settings = Settings(seed=7)
    every_status = set()
    for index in (1, 2):
        expected_suite = suite(settings, index)
        expected = plan(settings, index, 1, len(expected_suite.tests))
        run = last_run(port, listed[f"virtual machine #{index}"])
        assert run["done"] == run["tests_count"] == len(expected_suite.tests)
        assert run["scenarios_count"] == len(expected_suite.scenarios)
        assert {k: v for k, v in run["tests_statistics"].items() if v} == counts(expected)
        assert statuses_of(run) == [outcome.status for outcome in expected]
        names = [test["file_name"] for scenario in run["scenarios"] for test in scenario["tests"]]
        assert names == [test.file_name for test in expected_suite.tests]
        every_status |= set(statuses_of(run))
    assert len(every_status) > 1  # seed 7 draws more than one outcome: the drawing is exercised
    assert "virtual machine #1 run 1 (server run" in result.output


def test_the_same_seed_twice_reports_the_same_outcomes_and_another_seed_others(in_process_server, tmp_path):
    port, config = server_with_token(in_process_server, tmp_path)
    seen = []
    for _ in range(2):
        assert simulate(config, port, "--machines", "2", "--seed", "7", *FAST).exit_code == 0
        listed = machines(port)
        runs = {name: last_run(port, pk) for name, pk in listed.items()}
        seen.append(
            ({name: run["pk"] for name, run in runs.items()}, {n: statuses_of(r) for n, r in runs.items()})
        )
    (first_ids, first), (second_ids, second) = seen
    assert first == second
    assert set(first_ids.values()).isdisjoint(second_ids.values())  # new runs, same outcomes
    other = Settings(seed=8)
    assert [suite(other, 1), plan(other, 1, 1, 20)] != [
        suite(Settings(seed=7), 1),
        plan(Settings(seed=7), 1, 1, 20),
    ]


def test_runs_follow_one_another_and_a_fixed_outcome_is_every_tests(in_process_server, tmp_path):
    port, config = server_with_token(in_process_server, tmp_path)
    result = simulate(config, port, "--machines", "1", "--runs", "3", "--outcome", "warning", *FAST)
    assert result.exit_code == 0, result.output
    [machine_id] = machines(port).values()
    status, runs = http_json(f"http://127.0.0.1:{port}/tm_api/machine_dry_run_datas/{machine_id}")
    assert status == 200
    assert [run["tests_status"] for run in runs["results"]] == ["warning"] * 3


def test_without_a_token_it_reports_anonymously_where_the_server_allows_it(in_process_server, tmp_path):
    open_config = Config(data_dir=tmp_path / "server", progress=ProgressConfig(allow_anonymous=True))
    _server, port = in_process_server(open_config)
    config = write_config(tmp_path / "appliance.toml", tmp_path / "elsewhere", port)
    result = simulate(config, port, "--machines", "1", "--seed", "3", *FAST)
    assert result.exit_code == 0, result.output
    assert "without a token" in result.output
    assert list(machines(port)) == ["virtual machine #1"]
    assert not (tmp_path / "elsewhere" / "secrets").exists()  # no token of its own made up


def test_a_refused_report_is_a_clear_error(in_process_server, tmp_path):
    _server, port = in_process_server()
    config = write_config(tmp_path / "appliance.toml", tmp_path / "elsewhere", port)
    result = simulate(config, port, "--machines", "2", *FAST)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "2 of 2 machine(s) failed" in result.output
    assert "HTTP 401" in result.output and "progress_token" in result.output


def test_a_bad_server_url_is_a_usage_error_without_a_traceback(tmp_path):
    config = write_config(tmp_path / "appliance.toml", tmp_path / "data", 1)
    for url, said in [
        ("ftp://pi", "must start with http:// or https://"),
        ("http://127.0.0.1:1", "cannot reach http://127.0.0.1:1/healthz"),
        ("http://127.0.0.1:99999", "Port out of range"),
    ]:
        result = CliRunner().invoke(main, ["progress", "simulate", "--server", url, "--config", str(config)])
        assert result.exit_code == 2, result.output
        assert isinstance(result.exception, SystemExit)
        assert "Invalid value for --server" in result.output and said in result.output


def test_bad_options_are_usage_errors(tmp_path):
    config = write_config(tmp_path / "appliance.toml", tmp_path / "data", 1)
    for args in (["--test-seconds", "5,1"], ["--test-seconds", "x"], ["--runs", "2", "--forever"]):
        result = CliRunner().invoke(main, ["progress", "simulate", *args, "--config", str(config)])
        assert result.exit_code == 2, (args, result.output)


def test_without_the_server_extra_it_runs_and_sigterm_cancels_the_runs_cleanly(in_process_server, tmp_path):
    assert run_without_server_libraries("progress", "simulate", "--help").returncode == 0
    port, config = server_with_token(in_process_server, tmp_path)
    args = ["progress", "simulate", "--server", f"http://127.0.0.1:{port}", "--config", str(config)]
    process = subprocess.Popen(
        appliance_without_server_libraries(*args, "--machines", "2", "--forever", "--test-seconds", "600"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def both_running():
            listed = machines(port)
            return len(listed) == 2 and all(
                last_run(port, pk)["status"] == "running" for pk in listed.values()
            )

        wait_until(lambda: process.poll() is not None or both_running(), what="both machines to run a test")
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    for pk in machines(port).values():
        run = last_run(port, pk)
        assert run["status"] == "cancelled" and set(statuses_of(run)) == {"cancelled"}
    assert stdout.count("cancelled after") == 2
