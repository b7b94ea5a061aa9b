"""The whole stack under a real supervisord, as `make run` starts it."""

import os
import signal
import subprocess

import pytest

from appliance.supervisor import Supervisor
from tests.conftest import APPLIANCE, free_port, http_json, wait_until, write_config

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path, git_repo):
    port = free_port()
    # With a repository to build, the stack runs every program: server, monitor, observer, runner.
    ci = f'[ci]\nrunners = 1\n[[ci.repos]]\nname = "app"\nurl = "{git_repo.path}"\n'
    config = write_config(tmp_path / "appliance.toml", tmp_path / "data", port, ci)
    with (tmp_path / "stack.log").open("wb") as log:
        process = subprocess.Popen(
            [APPLIANCE, "stack", "up", "--config", str(config)], stdout=log, stderr=log
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
