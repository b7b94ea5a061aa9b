"""``appliance showroom ...`` on a real showroom: what it prints, and one line and exit code 1
for what the showroom refuses."""

from __future__ import annotations

import os

import pytest
from click.testing import CliRunner

from appliance.showroom.cli import showroom_group

pytestmark = pytest.mark.slow


@pytest.fixture
def run(showroom_daemon):
    def invoke(*args: str, exit_code: int = 0) -> str:
        result = CliRunner().invoke(showroom_group, [*args, "--config", str(showroom_daemon.config_file)])
        assert result.exit_code == exit_code, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        return result.output

    return invoke


def test_a_demo_from_deployment_to_destruction(run, showroom_daemon):
    base = showroom_daemon.port_base
    assert "test1                    params: name, comment" in run("available")
    assert run("deploy", "test1", "demo", "-p", "comment=a demo") == f"demo: deployed on port {base}\n"
    assert run("list") == f"demo                     test1            {base:<6} STOPPED\n"
    assert run("start", "demo") == "demo: RUNNING\n"
    assert run("status", "demo") == "RUNNING\n"
    assert run("logs", "demo") == "--- deploy ---\n--- output ---\n"
    assert run("stop", "demo") == "demo: STOPPED\n"
    assert run("destroy", "demo") == "demo: destroyed\n"
    assert run("status", "demo") == "DESTROYED\n"


def test_what_the_showroom_refuses_is_one_line(run):
    assert run("deploy", "test1", "../x", exit_code=1).count("\n") == 1
    assert run("deploy", "nosuch", "x", exit_code=1) == "Error: this demo does not exist\n"
    assert run("deploy", "test1", "x", "-p", "PORT=1", exit_code=1).startswith("Error: the parameter 'PORT'")
    assert run("deploy", "test1", "x", "-p", "novalue", exit_code=2).endswith(
        "expected KEY=VALUE, got 'novalue'\n"
    )
    assert run("deploy", "error", "failed", exit_code=1) == (
        "Error: installation ended with an error (its output: `appliance showroom logs failed`)\n"
    )
    assert "the installation of failed fails" in run("logs", "failed")
    assert run("start", "nosuch", exit_code=1) == "Error: this demo does not exist\n"
    assert run("destroy", "nosuch", exit_code=1) == "Error: this demo does not exist\n"
    run("deploy", "error2", "quitter")
    assert run("start", "quitter", exit_code=1).startswith("Error: supervisord: ")
    run("deploy", "testapachebad", "bad")
    run("start", "bad")
    assert "Apache refused its vhost: AH00526: Syntax error" in run("status", "bad")


def test_a_showroom_that_is_not_running_is_one_line(run, showroom_daemon):
    showroom_daemon.stop()
    output = run("list", exit_code=1)
    assert output.startswith("Error: the showroom's supervisord does not answer on ")
    assert output.count("\n") == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="supervisord becomes [showroom] user only when started as root")
def test_a_showroom_its_user_cannot_reach_is_refused_before_it_starts(tmp_path):
    config = tmp_path / "appliance.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n\n[showroom]\nuser = "nobody"\n', encoding="utf-8")
    result = CliRunner().invoke(showroom_group, ["supervisord", "--config", str(config)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: [showroom] directory: user 'nobody' cannot reach ")
    assert not (tmp_path / "data").exists()
