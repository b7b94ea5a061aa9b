"""One TOML configuration file for every program of the appliance.

The schema is a tree of frozen dataclasses: a section is a dataclass, a key is a field with a
default and a help text. Loading checks every key against the schema, so a typo or a value of the
wrong type is an error that names the file, the key and the problem instead of being ignored.
Secrets never live in the file: a secret key holds a reference (``env:NAME`` or ``file:PATH``)
that is resolved when it is used.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.ci.settings import CIConfig
from appliance.lamp.settings import LampConfig
from appliance.monitor.settings import MonitorConfig
from appliance.progress.settings import ProgressConfig
from appliance.schema import (
    ConfigError,
    KeyProblem,
    Secret,
    as_toml,
    build,
    port_number,
    positive,
    secrets_in,
    section,
    setting,
)
from appliance.showroom.settings import ShowroomConfig
from appliance.validation import validate

SYSTEM_CONFIG = Path("/etc/appliance/appliance.toml")
ENV_VAR = "APPLIANCE_CONFIG"


def percent(value: int) -> str | None:
    return None if 1 <= value <= 100 else "must be between 1 and 100"


@dataclass(frozen=True)
class ServerConfig:
    host: str = setting("127.0.0.1", "Address the web server listens on; 0.0.0.0 for the whole LAN.")
    port: int = setting(8080, "TCP port of the status page and the API.", port_number)
    threads: int = setting(
        16,
        "Threads that run requests. Open live pages hold none; each runner waiting for work holds "
        "one, and at most half of them wait at once.",
        positive,
    )
    max_streams: int = setting(
        1000, "Most `/events` streams (open live pages and programs) at once; beyond, 503.", positive
    )
    notices_dir: Path = setting(
        Path("/run/appliance/notices"),
        "Where other programs (the image's first boot) leave notices for the status page, one JSON "
        "file each.",
    )
    cc_xml_sources: bool = setting(
        False,
        "Also list the monitor's sources in `/cc.xml`, as `monitor/<name>` (the own CI's tiles "
        "aside: its repositories are there already). Off by default: a monitor that reads this "
        "appliance's own `/cc.xml` would read its own states back.",
    )
    disk_warning_percent: int = setting(
        90,
        "The status page warns when the data directory's filesystem is this full (percent).",
        percent,
    )
    hide_names: bool = setting(
        False,
        "Leave out who broke a build (the author of its commit) on the wall at `/` and in "
        "`/api/status`, as wall boards in shared rooms often want; `/ci` still names authors.",
    )


# What werkzeug.security.generate_password_hash makes (``appliance passwd``): the method with its
# parameters, the salt, the hex digest. Checked here without werkzeug, which a build box lacks.
PASSWORD_HASH = re.compile(r"(scrypt:\d+:\d+:\d+|pbkdf2:sha(256|512):\d+)\$[A-Za-z0-9]+\$[0-9a-f]{64,}")


def password_hash_problem(value: str) -> str | None:
    if value == "" or PASSWORD_HASH.fullmatch(value):
        return None
    return (
        "must be a password hash as `appliance passwd` writes it (scrypt:N:r:p$salt$hex or "
        "pbkdf2:sha256:N$salt$hex), not a password: run `appliance passwd`"
    )


@dataclass(frozen=True)
class AuthConfig:
    password_hash: str = setting(
        "",
        "The hash of the password people log in with to change things from the pages; "
        "`appliance passwd` sets it. Empty: nobody can log in, only tokens change state.",
        password_hash_problem,
        conceal=True,
    )
    public_status: bool = setting(
        True,
        "Whether the pages and read-only API calls are open to anyone on the network; false: they "
        "take the login or any role's token too (`/healthz` and `/login` stay open).",
    )
    session_hours: float = setting(
        12.0, "How long a login lasts, from the moment of logging in, in hours.", positive
    )
    secure_cookie: bool = setting(
        False,
        "Send the login's cookie over HTTPS only: set it when a proxy serves the appliance over "
        "HTTPS; on a LAN over plain HTTP the login would not work with it.",
    )
    token: Secret | None = setting(
        None,
        "The admin's API token, which every state-changing call takes, sent as "
        '`Authorization: Bearer ...`; a secret reference ("env:NAME" or "file:/path"). Unset: a '
        "random token is generated once in `<data_dir>/secrets/api-token`.",
    )
    runner_token: Secret | None = setting(
        None,
        "The runners' token: register, take work, heartbeat, send logs and results, nothing else; "
        "a secret reference. Unset: generated once in `<data_dir>/secrets/runner-token`.",
    )
    observer_token: Secret | None = setting(
        None,
        "The observer's token: post commits, nothing else; a secret reference. Unset: generated "
        "once in `<data_dir>/secrets/observer-token`.",
    )
    monitor_token: Secret | None = setting(
        None,
        "The monitor's token: put its report, nothing else; a secret reference. Unset: generated "
        "once in `<data_dir>/secrets/monitor-token`.",
    )
    progress_token: Secret | None = setting(
        None,
        "The test machines' token: report dry runs and tests' starts and stops, nothing else; a "
        "secret reference. Unset: generated once in `<data_dir>/secrets/progress-token`.",
    )


STACK_ENVIRONMENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def program_environment_problem(environment: dict[str, str]) -> str | None:
    """Names a shell would take, and values that supervisord's ``environment = NAME="value"``
    carries as they are (no quote, backslash or line break); PYTHONUNBUFFERED is the stack's own."""
    for name, value in environment.items():
        if not STACK_ENVIRONMENT_NAME.fullmatch(name):
            return f"{name!r} is not an environment variable's name"
        if name == "PYTHONUNBUFFERED":
            return "PYTHONUNBUFFERED is set by the stack itself"
        if any(character in value for character in '"\\\n\r'):
            return f"the value of {name} may not hold a double quote, a backslash or a line break"
    return None


@dataclass(frozen=True)
class StackConfig:
    supervisor_socket: Path | None = setting(
        None,
        "Unix socket of the supervisord that runs the stack; unset: "
        "`<data_dir>/run/supervisor.sock`, the one `appliance stack up` starts.",
    )
    command: str = setting(
        "",
        "How supervisord starts the `appliance` CLI; unset: this installation's own executable.",
    )
    log_dir: Path | None = setting(
        None,
        "Where supervisord writes the programs' output (`<program>.log`); unset: `<data_dir>/logs`. "
        "A root supervisord's belong in a directory of root's (`/var/log/appliance`).",
    )
    environment: dict[str, str] = setting(
        {},
        "Environment variables of the stack's programs (the showroom's excepted), NAME = value; "
        'e.g. GPIOZERO_PIN_FACTORY = "lgpio" for the wired RGB LED.',
        program_environment_problem,
    )


def default_data_dir() -> Path:
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / "appliance"


@dataclass(frozen=True)
class Config:
    data_dir: Path = field(
        default_factory=default_data_dir,
        metadata={
            "help": "Where the database, logs, secrets and sockets live; "
            "unset: `$XDG_STATE_HOME/appliance` (`~/.local/state/appliance`)."
        },
    )
    server: ServerConfig = section(ServerConfig, "The web server: status page, API, event stream.")
    auth: AuthConfig = section(AuthConfig, "Who may change state.")
    stack: StackConfig = section(StackConfig, "The supervisord that runs the programs.")
    lamp: LampConfig = section(LampConfig, "The lamp and its backends.")
    monitor: MonitorConfig = section(MonitorConfig, "The status sources the monitor polls.")
    ci: CIConfig = section(CIConfig, "The appliance's own CI.")
    progress: ProgressConfig = section(ProgressConfig, "System-test progress tracking.")
    showroom: ShowroomConfig = section(ShowroomConfig, "The demo showroom.")
    file: Path | None = field(default=None, metadata={"internal": True})
    looked_at: tuple[str, ...] = field(default=(), metadata={"internal": True})

    @property
    def source(self) -> str:
        if self.file is not None:
            return str(self.file)
        return "built-in defaults (looked at " + ", ".join(self.looked_at) + ")"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "appliance.db"

    @property
    def server_url(self) -> str:
        """Where programs on this machine reach the server."""
        host = self.server.host
        if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a listen-everywhere address, not a bind
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.server.port}"

    @property
    def supervisor_socket(self) -> Path:
        return self.stack.supervisor_socket or self.data_dir / "run" / "supervisor.sock"

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


def find_config_file(explicit: str | os.PathLike | None) -> tuple[Path | None, list[str]]:
    """Where the config comes from: --config, then $APPLIANCE_CONFIG, then the system file.

    Returns the file (None for built-in defaults) and the places looked at, for messages.
    An explicitly named file that does not exist is an error, not a silent fallback.
    """
    looked: list[str] = []
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (named by --config)")
        return path, looked
    looked.append("--config (not given)")
    from_env = os.environ.get(ENV_VAR)
    if from_env:
        path = Path(from_env)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (named by ${ENV_VAR})")
        return path, looked
    looked.append(f"${ENV_VAR} (not set)")
    if SYSTEM_CONFIG.is_file():
        return SYSTEM_CONFIG, looked
    looked.append(f"{SYSTEM_CONFIG} (no such file)")
    return None, looked


def load(explicit: str | os.PathLike | None = None) -> Config:
    path, looked = find_config_file(explicit)
    if path is None:
        return Config(looked_at=tuple(looked))
    return load_file(path)


def load_file(path: Path) -> Config:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        config = build(Config, raw, "", base_dir=path.parent.resolve())
    except KeyProblem as problem:
        raise ConfigError(f"{path}: {problem.key}: {problem.message}") from None
    problems = validate(config)
    if problems:
        raise ConfigError("\n".join(f"{path}: {problem}" for problem in problems))
    # Absolute, because programs started by supervisord run in another working directory.
    return config.replace(file=path.resolve())


def secret_problems(config: Config) -> list[str]:
    """Every secret reference in the configuration that cannot be read, with its key."""
    problems = []
    for key, secret in secrets_in(config, ""):
        try:
            secret.reveal()
        except ConfigError as exc:
            problems.append(f"{key}: {exc}")
    return problems


def to_toml(config: Config) -> str:
    """The configuration in effect as TOML, secrets shown as their references only."""
    # repr() escapes the control characters a comment may not hold (a newline in a file name).
    return f"# from {config.source!r}\n# unset keys are left out\n{as_toml(config)}"
