"""The stack's supervisord programs, and the whole stack under a real supervisord, as `make run`
starts it."""

import configparser
import os
import signal
import stat
import subprocess
import urllib.request
from pathlib import Path

import pytest

from appliance import stack as stack_module
from appliance.config import ConfigError, load_file
from appliance.supervisor import Supervisor, SupervisorUnavailable
from tests.conftest import APPLIANCE, free_port, http_json, wait_until, write_config
from tests.harness import free_port_range, processes_inside

CI = '[ci]\nrunners = 1\n[[ci.repos]]\nname = "app"\nurl = "/srv/git/app.git"\n'


def generated_programs(tmp_path, extra=""):
    """The [program:*] sections generated for a configuration, by program name."""
    config = load_file(write_config(tmp_path / "appliance.toml", tmp_path / "data", 8080, extra))
    parser = configparser.RawConfigParser()
    parser.read_string(stack_module.render_programs(config))
    return {
        name.removeprefix("program:"): parser[name]
        for name in parser.sections()
        if name.startswith("program:")
    }


def test_every_program_starts_in_the_data_directory(tmp_path):
    """Not in supervisord's own directory (`/` under Debian's), where lgpio cannot write the
    notification pipes (`.lgd-nfy*`) that gpiozero's lgpio pin factory needs."""
    sections = generated_programs(tmp_path, CI)

    assert list(sections) == ["server", "monitor", "observer", "runner-1"]
    assert {name: section["directory"] for name, section in sections.items()} == dict.fromkeys(
        sections, str(tmp_path / "data")
    )


def test_the_showroom_starts_in_its_own_run_directory(tmp_path):
    """supervisord changes directory after switching to the showroom's user, who may not enter
    the appliance's data directory."""
    sections = generated_programs(tmp_path, "[showroom]\nenabled = true\n")

    assert sections["showroom"]["directory"] == str(tmp_path / "data" / "showroom" / "run")


def test_the_stack_environment_reaches_every_program_but_the_showroom(tmp_path):
    extra = f'{CI}[showroom]\nenabled = true\n[stack]\nenvironment = {{ GPIOZERO_PIN_FACTORY = "lgpio" }}\n'
    sections = generated_programs(tmp_path, extra)

    environments = {name: section["environment"] for name, section in sections.items()}
    assert environments == {
        **dict.fromkeys(
            ["server", "monitor", "observer", "runner-1"], 'PYTHONUNBUFFERED="1",GPIOZERO_PIN_FACTORY="lgpio"'
        ),
        "showroom": 'PYTHONUNBUFFERED="1"',
    }


def test_without_a_stack_environment_the_programs_get_only_unbuffered_output(tmp_path):
    sections = generated_programs(tmp_path)

    assert {section["environment"] for section in sections.values()} == {'PYTHONUNBUFFERED="1"'}


def test_a_percent_sign_in_the_stack_environment_reaches_the_program_as_it_is(tmp_path):
    sections = generated_programs(tmp_path, '[stack]\nenvironment = { LABEL = "100%" }\n')

    assert sections["server"]["environment"] == 'PYTHONUNBUFFERED="1",LABEL="100%%"'  # supervisord's escape


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        ('{ "1NAME" = "x" }', "not an environment variable's name"),
        ('{ PYTHONUNBUFFERED = "0" }', "set by the stack itself"),
        ('{ NAME = "a\\"b" }', "may not hold a double quote"),
        ('{ NAME = "a\\\\b" }', "may not hold a double quote, a backslash"),
    ],
)
def test_a_stack_environment_supervisord_cannot_carry_is_refused(tmp_path, environment, problem):
    path = write_config(
        tmp_path / "appliance.toml", tmp_path / "data", 8080, f"[stack]\nenvironment = {environment}\n"
    )

    with pytest.raises(ConfigError, match=r"stack\.environment") as raised:
        load_file(path)
    assert problem in str(raised.value)


@pytest.fixture
def stack(tmp_path, git_repo):
    port = free_port()
    # With a repository to build, the stack runs every program: server, monitor, observer, runner.
    ci = f'[ci]\nrunners = 1\n[[ci.repos]]\nname = "app"\nurl = "{git_repo.path}"\n'
    ci += '[stack]\nenvironment = { APPLIANCE_STACK_TEST = "on" }\n'
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_every_program_runs_in_the_data_directory_with_the_stack_environment(stack):
    """What supervisord did with the generated sections: each process's working directory and
    environment, as the kernel shows them."""
    data_dir = (stack.config.parent / "data").resolve()
    wait_until(lambda: all(p.pid for p in stack.supervisor.processes()), what="every program's pid")
    processes = stack.supervisor.processes()
    assert len(processes) == 4
    for process in processes:
        assert Path(f"/proc/{process.pid}/cwd").resolve() == data_dir, process.full_name
        environ = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
        assert b"APPLIANCE_STACK_TEST=on" in environ, process.full_name


@pytest.mark.slow
def test_a_killed_server_is_restarted_and_answers_again(stack):
    first = wait_until(lambda: server_process(stack.supervisor).pid, what="server pid")
    instance = http_json(stack.url + "/healthz")[1]["instance_id"]
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: server_process(stack.supervisor).pid not in (0, first), what="a new server process")
    wait_until(lambda: healthy(stack.url), what="the restarted server")
    # Same database, so the same installation.
    assert http_json(stack.url + "/healthz")[1]["instance_id"] == instance


@pytest.mark.slow
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


@pytest.mark.slow
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
