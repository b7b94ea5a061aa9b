"""A build box installs the package without its `server` extra: the runner, and the chores a box
runs, work with the base dependencies alone. The subprocesses here run the CLI with the server's
libraries made unimportable, as on such a box."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT, wait_until

# Import names of what only the Pi's stack needs: the web stack, the database, supervisord, the
# monitor's HTTP client, the GPIO LED and the observer's GitPython.
SERVER_LIBRARIES = (
    "flask", "werkzeug", "jinja2", "a2wsgi", "uvicorn", "sqlalchemy", "supervisor", "requests",
    "gpiozero", "git",
)  # fmt: skip
SERVER_DISTRIBUTIONS = {"flask", "sqlalchemy", "uvicorn", "supervisor", "requests", "gpiozero", "gitpython"}

# `python -c` with this, then the CLI's arguments: the `appliance` command where none of
# SERVER_LIBRARIES is installed.
WITHOUT_SERVER_LIBRARIES = f"""
import sys

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {SERVER_LIBRARIES!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)

sys.meta_path.insert(0, NotInstalled())
from appliance.cli import main
main(prog_name="appliance")
"""


def appliance_without_server_libraries(*args: str) -> list[str]:
    return [sys.executable, "-c", WITHOUT_SERVER_LIBRARIES, *args]


def run_without_server_libraries(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        appliance_without_server_libraries(*args), capture_output=True, text=True, timeout=30
    )


def distributions(requirements: list[str]) -> set[str]:
    return {canonicalize_name(Requirement(requirement).name) for requirement in requirements}


def box_config(directory: Path, runner_token_file: Path) -> Path:
    """A build box's configuration, as the README gives it: its own data and the runner token."""
    config = directory / "appliance.toml"
    config.write_text(
        f'data_dir = "{directory / "data"}"\n\n[auth]\nrunner_token = "file:{runner_token_file}"\n',
        encoding="utf-8",
    )
    return config


def test_the_base_dependencies_hold_none_of_the_servers_libraries():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert distributions(project["dependencies"]).isdisjoint(SERVER_DISTRIBUTIONS)
    assert distributions(project["optional-dependencies"]["server"]) >= SERVER_DISTRIBUTIONS


@pytest.mark.parametrize(
    "command", [["--help"], ["runner", "--help"], ["config", "show"], ["config", "check"]]
)
def test_the_cli_the_runner_and_the_config_work_without_the_server_extra(command, tmp_path):
    token = tmp_path / "runner-token"
    token.write_text("a token\n", encoding="utf-8")
    config = ["--config", str(box_config(tmp_path, token))] if command[0] == "config" else []
    result = run_without_server_libraries(*command, *config)
    assert result.returncode == 0, result.stderr
    assert result.stdout


def test_a_command_of_the_stack_without_the_server_extra_says_what_to_install(tmp_path):
    config = box_config(tmp_path, tmp_path / "runner-token")
    result = run_without_server_libraries("server", "--config", str(config))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "'flask' is not installed: this command needs the package with its `server` extra" in result.stderr


@pytest.mark.slow
def test_a_runner_without_the_server_extra_registers_and_builds(start_ci, git_repo, tmp_path):
    repo = {"name": "demo", "url": str(git_repo.path), "command": "echo built on the box"}
    ci = start_ci([repo])
    box = tmp_path / "box"
    box.mkdir()
    config = box_config(box, ci.server.data_dir / "secrets" / "runner-token")
    log_path = box / "runner.log"
    with log_path.open("ab") as log:
        runner = subprocess.Popen(
            appliance_without_server_libraries(
                "runner", "--server", ci.server.url, "--name", "box", "--config", str(config)
            ),
            stdout=log,
            stderr=log,
        )
    ci.processes.append(runner)

    def registered_runners() -> list[str]:
        return [registered["name"] for registered in ci.api("/api/ci/runners")[1]["runners"]]

    wait_until(lambda: runner.poll() is not None or registered_runners(), what="the runner to register")
    assert runner.poll() is None, log_path.read_text()
    assert registered_runners() == ["box"]
    ci.queue(repo, [git_repo.commits[0]])
    [build] = ci.wait_finished(1)
    assert (build["status"], build["runner"]) == ("passed", "box"), log_path.read_text()
    assert b"built on the box\n" in ci.log(build["id"])
