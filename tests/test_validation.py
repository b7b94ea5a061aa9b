"""One validation: a file that `appliance config check` passes is one every program starts with,
and a file a program refuses is refused by `config check` first, with the same message.

Each bad file below is one that a program used to refuse only once it was running (the monitor
building its sources, `stack generate` splitting the command), after provisioning had passed it
with `config check`. Both run here as the real commands, in subprocesses.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import APPLIANCE, free_port, wait_until

# The keys without which each kind of source cannot be read (docs/configuration.md).
REQUIRED_KEYS = {
    "octopus": ("url", "project", "environment"),
    "cctray": ("url",),
    "github": ("owner", "repo", "workflow"),
    "gitlab": ("project",),
    "jenkins": ("job",),
}
MONITOR = ("monitor",)
STACK = ("stack", "generate")


def source_table(kind: str, keys: dict[str, str]) -> str:
    return f"[[monitor.{kind}]]\n" + "".join(f'{key} = "{value}"\n' for key, value in keys.items())


def without(kind: str, missing: str) -> str:
    return source_table(kind, {key: "x" for key in REQUIRED_KEYS[kind] if key != missing})


REPO_APP = '[[ci.repos]]\nname = "app"\nurl = "/srv/app.git"\n'

BAD = [
    *[
        pytest.param(without(kind, key), MONITOR, f"monitor.{kind}[0].{key}: must be set", id=f"{kind}-{key}")
        for kind, keys in REQUIRED_KEYS.items()
        for key in keys
    ],
    pytest.param(
        '[[monitor.cctray]]\nurl = ""\n', MONITOR, "monitor.cctray[0].url: must be set, got ''", id="empty"
    ),
    pytest.param(
        source_table("jenkins", {"job": "https://j.example.com/job/app"})
        + source_table("jenkins", {"job": "https://k.example.com/job/app/"}),
        MONITOR,
        "monitor.jenkins[1].name: 'app' is also the name of monitor.jenkins[0]; give each its own name",
        id="names-made-alike",
    ),
    pytest.param(
        source_table("cctray", {"name": "ci", "url": "https://ci.example.com/cc.xml"})
        + source_table("gitlab", {"name": "ci", "project": "group/app"}),
        MONITOR,
        "monitor.gitlab[0].name: 'ci' is also the name of monitor.cctray[0]; give each its own name",
        id="names-given-alike",
    ),
    pytest.param(
        source_table("jenkins", {"job": "https://j.example.com/job/app"}) + REPO_APP,
        MONITOR,
        "ci.repos[0].name: 'app' is also the name of monitor.jenkins[0]; give each its own name",
        id="own-ci-named-like-a-source",
    ),
    pytest.param(
        "[monitor]\nown_ci = true\n",
        MONITOR,
        "monitor.own_ci: true, but [[ci.repos]] names no repository to show",
        id="own-ci-without-repositories",
    ),
    pytest.param(
        '[stack]\ncommand = "/bin/appliance \\"-v"\n',
        STACK,
        "stack.command: not a command line (No closing quotation), got '/bin/appliance \"-v'",
        id="stack-command-unquoted",
    ),
    pytest.param(
        '[stack]\ncommand = "  "\n',
        STACK,
        "stack.command: names no command, got '  '",
        id="stack-command-blank",
    ),
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "appliance.toml"
    # Nothing listens on the server's port: a monitor that starts reports nowhere, quietly.
    path.write_text(
        f'data_dir = "{tmp_path}/data"\n[server]\nport = {free_port()}\n\n{text}', encoding="utf-8"
    )
    return path


def appliance(*arguments: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # A program that took the file would run on: the timeout ends the test instead.
    return subprocess.run(
        [APPLIANCE, *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=10,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(("text", "program", "problem"), BAD)
def test_config_check_refuses_what_the_program_refuses_with_the_same_message(
    tmp_path, text, program, problem
):
    path = write(tmp_path, text)
    check = appliance("config", "check", "--config", path)
    assert check.returncode == 1
    assert check.stderr == f"Error: {path}: {problem}\n"
    started = appliance(*program, "--config", path)
    assert started.returncode == 1
    assert started.stderr == check.stderr


UNREACHABLE = f"http://127.0.0.1:{free_port()}"
GOOD_SOURCES = {
    "octopus": {"url": UNREACHABLE, "project": "Projects-1", "environment": "Environments-1"},
    "cctray": {"url": f"{UNREACHABLE}/cc.xml"},
    "github": {"api": UNREACHABLE, "owner": "team", "repo": "app", "workflow": "ci.yml"},
    "gitlab": {"api": UNREACHABLE, "project": "group/app"},
    "jenkins": {"job": f"{UNREACHABLE}/job/lib"},
}
GOOD = (
    "".join(source_table(kind, keys) for kind, keys in GOOD_SOURCES.items())
    + '[monitor]\nown_ci = true\n\n[stack]\ncommand = "/opt/appliance/bin/appliance --quiet"\n\n'
    + REPO_APP
)


def test_a_good_config_passes_the_check_and_the_programs_start(tmp_path):
    path = write(tmp_path, GOOD)
    check = appliance("config", "check", "--config", path)
    assert (check.returncode, check.stdout) == (0, f"{path}: ok\n"), check.stderr
    generated = appliance("stack", "generate", "--config", path)
    assert generated.returncode == 0, generated.stderr
    assert "command = /opt/appliance/bin/appliance --quiet monitor --config" in generated.stdout
    log = tmp_path / "monitor.log"
    with log.open("wb") as output:
        monitor = subprocess.Popen(
            [APPLIANCE, "monitor", "--config", str(path)], stdout=output, stderr=output
        )
    try:
        wait_until(lambda: "monitoring 6 source(s)" in log.read_text(), what="the monitor to start")
        monitor.send_signal(signal.SIGTERM)
        assert monitor.wait(timeout=10) == 0, log.read_text()
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.wait(timeout=10)


def test_the_seed_flags_add_a_source_that_is_checked_like_the_file(tmp_path):
    path = write(tmp_path, source_table("octopus", {"url": "http://o/", "project": "P", "environment": "E"}))
    seed = ["--octopus-url", "http://o/", "--octopus-project", "P", "--octopus-environment", "E"]
    started = appliance("monitor", "--config", path, *seed, env={"OCTOPUS_API_KEY": "API-123"})
    assert started.returncode == 2
    assert (
        f"{path} with --octopus-url: monitor.octopus[1].name: 'P → E' is also the name of monitor.octopus[0]"
        in started.stderr
    )
