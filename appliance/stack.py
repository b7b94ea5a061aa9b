"""The supervisord configuration of the stack, generated from the appliance's configuration.

One source of truth: ``appliance stack up`` runs the full file generated here, and the Ansible
roles install the same ``[program:...]`` definitions into Debian's supervisor.
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from appliance.config import Config
from appliance.events import EventBus
from appliance.files import private_directory, private_file
from appliance.supervisor import Supervisor, SupervisorUnavailable

GROUP = "appliance"


@dataclass(frozen=True)
class Program:
    name: str
    arguments: tuple[str, ...]  # of the appliance CLI
    startsecs: int = 3
    # Supervisord waits this long after SIGTERM before SIGKILL: long enough for a runner to
    # report a build it is stopping.
    stopwaitsecs: int = 15
    command: tuple[str, ...] = ()  # instead of the appliance CLI, this whole command
    user: str = ""  # who supervisord runs it as (when supervisord is root); unset: as itself
    # Its working directory; unset: the data directory. Never supervisord's own (`/` under
    # Debian's), where lgpio cannot write its notification pipes (`.lgd-nfy*`).
    directory: Path | None = None
    # Its environment beyond PYTHONUNBUFFERED: `[stack] environment` (the showroom's is its own).
    environment: tuple[tuple[str, str], ...] = ()


def programs(config: Config) -> list[Program]:
    """The programs of the stack; each capability adds its own once it exists."""
    environment = tuple(config.stack.environment.items())

    def program(name: str, *arguments: str) -> Program:
        return Program(name, arguments, directory=config.data_dir, environment=environment)

    stack = [program("server", "server"), program("monitor", "monitor")]
    if config.ci.repos:  # the CI's programs run once there is something to build
        stack.append(program("observer", "observer"))
        names = [f"runner-{n}" for n in range(1, config.ci.runners + 1)]
        stack.extend(program(name, "runner", "--name", name) for name in names)
    if config.showroom.enabled:
        stack.append(showroom_program(config))
    return stack


def showroom_program(config: Config) -> Program:
    """The showroom's own supervisord (``appliance/showroom/supervisord.py``): started from its
    configuration file directly, not through the appliance CLI, so that as ``[showroom] user`` it
    reads nothing of the appliance's; with an environment of its own, since what it starts
    inherits it (the stack's may hold secrets; supervisord changes the user, not HOME or USER)."""
    from appliance.showroom.apache import SYSTEM_ENVIRONMENT
    from appliance.showroom.layout import Layout

    layout = Layout.of(config)
    user = config.showroom.user or os.environ.get("USER", "")
    environment = {**SYSTEM_ENVIRONMENT, "HOME": str(layout.run), "USER": user}
    return Program(
        "showroom",
        (),
        command=(
            "env",
            "-i",
            *(f"{key}={value}" for key, value in environment.items()),
            *supervisord_command(layout.supervisord_conf),
        ),
        user=config.showroom.user,
        # Its own run directory: supervisord changes to it after switching to the showroom's
        # user, who may not enter the appliance's data directory.
        directory=layout.run,
    )


def appliance_command(config: Config) -> list[str]:
    if config.stack.command:
        return shlex.split(config.stack.command)
    executable = Path(sys.executable).parent / "appliance"
    if executable.exists():
        return [str(executable)]
    return [sys.executable, "-m", "appliance"]


def render_programs(config: Config) -> str:
    """The ``[program:...]`` sections and their group, for any supervisord's include directory."""
    base = appliance_command(config)
    config_args = ["--config", str(config.file)] if config.file else []
    logs = program_log_dir(config)
    sections = []
    for program in programs(config):
        command = shlex.join(program.command or [*base, *program.arguments, *config_args])
        environment = ",".join(
            f'{name}="{value}"' for name, value in [("PYTHONUNBUFFERED", "1"), *program.environment]
        )
        sections.append(
            "\n".join(
                [
                    f"[program:{program.name}]",
                    f"command = {_escape(command)}",
                    *([f"user = {program.user}"] if program.user else []),
                    f"directory = {_escape(str(program.directory or config.data_dir))}",
                    "autostart = true",
                    "autorestart = true",
                    f"startsecs = {program.startsecs}",
                    "startretries = 10",
                    "stopsignal = TERM",
                    f"stopwaitsecs = {program.stopwaitsecs}",
                    "stopasgroup = true",
                    "killasgroup = true",
                    "redirect_stderr = true",
                    f"stdout_logfile = {_escape(str(logs / (program.name + '.log')))}",
                    "stdout_logfile_maxbytes = 1MB",
                    "stdout_logfile_backups = 3",
                    f"environment = {_escape(environment)}",
                ]
            )
        )
    names = ",".join(p.name for p in programs(config))
    sections.append(f"[group:{GROUP}]\nprograms = {names}")
    return "\n\n".join(sections) + "\n"


def program_log_dir(config: Config) -> Path:
    """Where supervisord writes the programs' output. A root supervisord appends to and rotates
    those files as root: in a directory the programs' user can write, that user could put a
    symbolic link there (to /etc/shadow) instead, so the Ansible roles set a root-owned one."""
    return config.stack.log_dir or config.data_dir / "logs"


def render_supervisord(config: Config) -> str:
    """A complete supervisord.conf that runs the stack in the foreground as the current user."""
    run = config.data_dir / "run"
    logs = config.data_dir / "logs"
    socket = config.supervisor_socket
    head = f"""\
[unix_http_server]
file = {_escape(str(socket))}
; Only the owner may control the stack.
chmod = 0700

[supervisord]
nodaemon = true
logfile = {_escape(str(logs / "supervisord.log"))}
logfile_maxbytes = 1MB
logfile_backups = 3
pidfile = {_escape(str(run / "supervisord.pid"))}
childlogdir = {_escape(str(logs))}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = unix://{_escape(str(socket))}

"""
    return head + render_programs(config)


def write_supervisord(config: Config) -> Path:
    """The stack's supervisord.conf (and the showroom's, which the stack starts), written."""
    if config.showroom.enabled:
        from appliance.showroom.supervisord import write_configuration

        write_configuration(config)
    run = private_directory(config.data_dir, "run")
    private_directory(config.data_dir, "logs")
    program_log_dir(config).mkdir(parents=True, exist_ok=True)  # when configured elsewhere
    config.supervisor_socket.parent.mkdir(parents=True, exist_ok=True)  # when configured elsewhere
    path = private_file(run / "supervisord.conf")
    path.write_text(render_supervisord(config), encoding="utf-8")
    return path


def supervisord_command(conf: Path) -> list[str]:
    executable = Path(sys.executable).parent / "supervisord"
    binary = str(executable) if executable.exists() else "supervisord"
    return [binary, "--nodaemon", "--configuration", str(conf)]


def _escape(value: str) -> str:
    # supervisord expands %(name)s in values; a literal percent sign must be doubled.
    return value.replace("%", "%%")


def stack_state(supervisor: Supervisor) -> dict:
    """The programs supervisord runs and their states, as the status page and its JSON show them."""
    try:
        processes = supervisor.processes()
    except SupervisorUnavailable as exc:
        return {"reachable": False, "socket": str(supervisor.socket_path), "error": str(exc), "programs": []}
    return {
        "reachable": True,
        "socket": str(supervisor.socket_path),
        "error": None,
        "programs": [
            {
                "name": p.full_name,
                "group": p.group,
                "state": p.state,
                "pid": p.pid,
                "description": p.description,
            }
            for p in processes
        ],
    }


class StackWatcher(threading.Thread):
    """Publishes the stack's state on the event bus when it changes, and polls supervisord only
    while somebody is listening: an idle appliance does no work."""

    def __init__(self, supervisor: Supervisor, bus: EventBus, interval: float = 2.0):
        super().__init__(name="stack-watcher", daemon=True)
        self.supervisor = supervisor
        self.bus = bus
        self.interval = interval
        self.stop_event = threading.Event()
        self._last: object = None

    def run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.tick()

    def tick(self) -> None:
        """Poll if anyone listens to ``stack`` (the observer and the monitor listen to ``ci.*``
        all the time; they must not keep supervisord busy)."""
        if self.bus.listening_to("stack"):
            self.poll_once()
        else:
            self._last = None

    def poll_once(self) -> None:
        state = stack_state(self.supervisor)
        # The description holds an uptime that changes every second: not a change worth a message.
        key = (state["reachable"], [(p["name"], p["state"], p["pid"]) for p in state["programs"]])
        if key != self._last:
            self._last = key
            self.bus.publish("stack", state)
