"""The whole stack under a real supervisord, as `make run` starts it."""

import os
import signal
import stat
import subprocess
import urllib.request
from pathlib import Path

import pytest

from appliance.supervisor import Supervisor, SupervisorUnavailable
from tests.conftest import APPLIANCE, free_port, http_json, wait_until, write_config
from tests.harness import free_port_range, processes_inside

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path, git_repo):
    port = free_port()
    # With a repository to build, the stack runs every program: server, monitor, observer, runner.
    ci = f'[ci]\nrunners = 1\n[[ci.repos]]\nname = "app"\nurl = "{git_repo.path}"\n'
    config = write_config(tmp_path / "appliance.toml", tmp_path / "data", port, ci)
    with (tmp_path / "stack.log").open("wb") as log:
        process = subprocess.Popen(
            [APPLIANCE, "stack", "up", "--config", str(config)], stdout=log, stderr=log, umask=0o022
        )
    supervisor = Supervisor(tmp_path / "data" / "run" / "supervisor.sock")
    stack = type("Stack", (), {"url": f"http://127.0.0.1:{port}", "config": config, "supervisor": supervisor})
    wait_until(lambda: healthy(stack.url), what="the stack's server")
    yield stack
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def healthy(url):
    try:
        status, body = http_json(url + "/healthz", timeout=2)
    except OSError:
        return False
    return status == 200 and body["ok"]


def server_process(supervisor):
    [server] = [p for p in supervisor.processes() if p.full_name == "appliance:server"]
    return server


def test_the_page_lists_every_program_of_the_stack_as_running(stack):
    wait_until(
        lambda: all(p.state == "RUNNING" for p in stack.supervisor.processes()), what="every program RUNNING"
    )
    status, body = http_json(stack.url + "/api/status")
    assert status == 200
    assert body["stack"]["reachable"]
    states = {p["name"]: p["state"] for p in body["stack"]["programs"]}
    names = ["appliance:monitor", "appliance:observer", "appliance:runner-1", "appliance:server"]
    assert states == dict.fromkeys(names, "RUNNING")
    result = subprocess.run(
        [APPLIANCE, "stack", "status", "--config", str(stack.config)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [[name, "RUNNING"] for name in names]


def test_a_killed_server_is_restarted_and_answers_again(stack):
    first = wait_until(lambda: server_process(stack.supervisor).pid, what="server pid")
    instance = http_json(stack.url + "/healthz")[1]["instance_id"]
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: server_process(stack.supervisor).pid not in (0, first), what="a new server process")
    wait_until(lambda: healthy(stack.url), what="the restarted server")
    # Same database, so the same installation.
    assert http_json(stack.url + "/healthz")[1]["instance_id"] == instance


def test_the_data_directory_is_the_appliances_alone(stack):
    """Started with umask 022, the stack still makes its directories 0700 and its files 0600 (the
    logs and the work of git and the builds are inside them)."""
    data_dir = stack.config.parent / "data"
    wait_until(
        lambda: (data_dir / "ci" / "runners" / "runner-1").exists(), what="the runner's work directory"
    )
    wait_until(lambda: (data_dir / "ci" / "observer").exists(), what="the observer's directory")
    directories = ["", "run", "logs", "secrets", "ci", "ci/observer", "ci/runners", "ci/runners/runner-1"]
    files = [
        "appliance.db",
        "run/supervisord.conf",
        *(f"secrets/{role}-token" for role in ("api", "runner", "observer", "monitor")),
    ]
    modes = {name: oct(stat.S_IMODE((data_dir / name).stat().st_mode)) for name in directories + files}
    assert modes == {**dict.fromkeys(directories, "0o700"), **dict.fromkeys(files, "0o600")}


def test_the_stack_runs_the_showroom_whose_demos_serve_and_inherit_no_secret(tmp_path):
    """With `[showroom] enabled`, `stack up` writes the showroom's files and runs its supervisord
    as a program; a demo deployed and started from the CLI serves through Apache, and nothing of
    the stack's environment (where secrets may be) reaches it."""
    port, base = free_port(), free_port_range(4)
    showroom = f"[showroom]\nenabled = true\nport_base = {base}\nports = 4\n"
    config = write_config(tmp_path / "appliance.toml", tmp_path / "data", port, showroom)
    environment = {**os.environ, "APPLIANCE_TEST_SECRET": "do-not-leak"}
    with (tmp_path / "stack.log").open("wb") as log:
        process = subprocess.Popen(
            [APPLIANCE, "stack", "up", "--config", str(config)], stdout=log, stderr=log, env=environment
        )
    try:
        supervisor = Supervisor(tmp_path / "data" / "run" / "supervisor.sock")
        wait_until(lambda: program_state(supervisor, "appliance:showroom") == "RUNNING", what="the showroom")

        def showroom(*arguments: str) -> str:
            command = [APPLIANCE, "showroom", *arguments, "--config", str(config)]
            result = subprocess.run(command, capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
            return result.stdout

        wait_until(
            lambda: subprocess.run([APPLIANCE, "showroom", "list", "--config", str(config)]).returncode == 0,
            what="the showroom's socket",
        )
        showroom("deploy", "static-site", "hello", "-p", "title=Stacked")
        showroom("start", "hello")
        page = wait_until(lambda: fetch(f"http://127.0.0.1:{base}/"), what="the demo's page")
        assert "Stacked" in page
        apache = [
            pid
            for pid in processes_inside(tmp_path / "data" / "showroom")
            if b"apache2" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        assert apache
        for pid in apache:
            assert b"APPLIANCE_TEST_SECRET" not in Path(f"/proc/{pid}/environ").read_bytes()
        showroom("destroy", "hello")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert not processes_inside(tmp_path / "data" / "showroom")


def program_state(supervisor: Supervisor, name: str) -> str | None:
    try:
        return next((p.state for p in supervisor.processes() if p.full_name == name), None)
    except SupervisorUnavailable:
        return None


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None
