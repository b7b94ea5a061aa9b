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
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SYSTEM_CONFIG = Path("/etc/appliance/appliance.toml")
ENV_VAR = "APPLIANCE_CONFIG"


class ConfigError(Exception):
    """A configuration that cannot be used; the message names the file, the key and the problem."""


class Secret:
    """A reference to a secret held in an environment variable or a file, never the secret itself."""

    def __init__(self, ref: str):
        kind, _, target = ref.partition(":")
        if kind not in ("env", "file") or not target:
            raise ValueError('expected "env:VARIABLE" or "file:/path/to/file"')
        self.ref = ref
        self.kind = kind
        self.target = target

    def reveal(self) -> str:
        """Read the secret; raises ConfigError naming the reference when it is not there."""
        if self.kind == "env":
            value = os.environ.get(self.target)
            if value is None:
                raise ConfigError(f"secret {self.ref}: environment variable {self.target} is not set")
        else:
            try:
                value = Path(self.target).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"secret {self.ref}: cannot read the file: {exc.strerror}") from None
        value = value.strip()
        if not value:
            raise ConfigError(f"secret {self.ref}: is empty")
        return value

    def __repr__(self) -> str:
        return f"Secret({self.ref!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other.ref == self.ref

    def __hash__(self) -> int:
        return hash(self.ref)


def setting(default: Any, help: str, check: typing.Callable[[Any], str | None] | None = None) -> Any:
    """A documented key; ``check`` returns a problem as text, or None when the value is fine."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, "check": check})
    return field(default=default, metadata={"help": help, "check": check})


def section(cls: type, help: str) -> Any:
    return field(default_factory=cls, metadata={"help": help})


def port_number(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "must be between 1 and 65535"


def positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


@dataclass(frozen=True)
class ServerConfig:
    host: str = setting("127.0.0.1", "Address the web server listens on; 0.0.0.0 for the whole LAN.")
    port: int = setting(8080, "TCP port of the status page and the API.", port_number)
    threads: int = setting(48, "Worker threads of the web server; each open live page holds one.", positive)


@dataclass(frozen=True)
class AuthConfig:
    token: Secret | None = setting(
        None,
        "API token that state-changing calls must send as `Authorization: Bearer ...`; "
        'a secret reference ("env:NAME" or "file:/path"). Unset: a random token is generated '
        "once in `<data_dir>/secrets/api-token`.",
    )


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


LAMP_BACKENDS = ("lirc", "gpio", "virtual")


def lamp_backend_names(value: str | list[str]) -> str | None:
    names = [value] if isinstance(value, str) else value
    unknown = [name for name in names if name not in LAMP_BACKENDS]
    if unknown:
        return f"unknown backend {', '.join(map(repr, unknown))} (known: {', '.join(LAMP_BACKENDS)})"
    if not names:
        return "must name at least one backend"
    if len(set(names)) != len(names):
        return "names a backend twice"
    return None


def gpio_pin(value: int) -> str | None:
    return None if 0 <= value <= 27 else "must be a BCM GPIO number between 0 and 27"


@dataclass(frozen=True)
class LircLampConfig:
    socket: Path = setting(Path("/var/run/lirc/lircd"), "Unix socket of lircd, passed to `irsend --device`.")
    remote: str = setting("LED_24_KEY", "Name of the remote in lircd's configuration (`lircd.conf`).")


@dataclass(frozen=True)
class GpioLampConfig:
    red_pin: int = setting(22, "BCM GPIO number of the RGB LED's red leg (17 is the IR LED's).", gpio_pin)
    green_pin: int = setting(27, "BCM GPIO number of the RGB LED's green leg.", gpio_pin)
    blue_pin: int = setting(24, "BCM GPIO number of the RGB LED's blue leg.", gpio_pin)
    active_high: bool = setting(True, "true for a common-cathode LED, false for a common-anode one.")


@dataclass(frozen=True)
class LampConfig:
    backend: str | list[str] = setting(
        "virtual",
        'What shows the colour: "lirc" (the IR lamp through lircd), "gpio" (a wired RGB LED), '
        '"virtual" (only the status page), or a list of them, e.g. ["lirc", "gpio"].',
        lamp_backend_names,
    )
    resend_seconds: float = setting(
        300.0, "Re-send the current colour this often, for a lamp that was power-cycled.", positive
    )
    lirc: LircLampConfig = section(LircLampConfig, "The IR lamp, driven through lircd and irsend.")
    gpio: GpioLampConfig = section(GpioLampConfig, "A wired RGB LED driven by gpiozero.")


def step_phases(value: dict[str, str]) -> str | None:
    from appliance.monitor.states import PHASE_FAILED

    phases = [phase.value for phase in PHASE_FAILED]
    wrong = sorted(f"{step!r} = {phase!r}" for step, phase in value.items() if phase not in phases)
    return f"{', '.join(wrong)}: a phase must be one of {', '.join(phases)}" if wrong else None


def state_colours(value: dict[str, str]) -> str | None:
    from appliance.lamp.keys import COLOUR_KEYS
    from appliance.monitor.states import State

    states = [state.value for state in State]
    unknown = sorted(key for key in value if key not in states)
    if unknown:
        return f"{', '.join(unknown)}: not a state (states: {', '.join(states)})"
    wrong = sorted(f"{key} = {colour!r}" for key, colour in value.items() if colour not in COLOUR_KEYS)
    return f"{', '.join(wrong)}: a colour must be one of {', '.join(COLOUR_KEYS)}" if wrong else None


@dataclass(frozen=True)
class SourceConfig:
    """What every status source has: a name on the page, how often it is read, how long to wait."""

    name: str = setting("", "Name of the source on the status page; unset: made from its endpoint.")
    interval: float = setting(30.0, "Seconds between two reads of the source.", positive)
    timeout: float = setting(10.0, "Seconds to wait for an answer before a read counts as failed.", positive)


@dataclass(frozen=True)
class OctopusSourceConfig(SourceConfig):
    url: str = setting("", "Base URL of the Octopus server, e.g. `https://octopus.example.com/` (required).")
    space: str = setting("", "Space id, e.g. `Spaces-1`; unset: the legacy routes of the default space.")
    project: str = setting("", "Project id, e.g. `Projects-1` (required).")
    environment: str = setting("", "Environment id, e.g. `Environments-1` (required).")
    api_key: Secret | None = setting(None, "Octopus API key (`X-Octopus-ApiKey`), a secret reference.")
    steps: dict[str, str] = setting(
        {"Acquire packages": "acquiring", "Deploy": "deploying", "Run tests": "testing"},
        "Deployment step name = phase (waiting, acquiring, deploying, testing): a running step shows "
        "its phase, a failed one the failed form of its phase.",
        step_phases,
    )


@dataclass(frozen=True)
class CCTraySourceConfig(SourceConfig):
    url: str = setting("", "URL of the CCTray XML feed, e.g. `https://ci.example.com/cc.xml` (required).")
    projects: str | list[str] = setting([], "Names of the feed's projects to watch; unset: all of them.")
    username: str = setting("", "User for HTTP basic authentication; unset: none.")
    password: Secret | None = setting(None, "Password for HTTP basic authentication, a secret reference.")


@dataclass(frozen=True)
class GitHubSourceConfig(SourceConfig):
    api: str = setting(
        "https://api.github.com", "Base URL of the GitHub REST API (Enterprise: `https://HOST/api/v3`)."
    )
    owner: str = setting("", "Owner of the repository (required).")
    repo: str = setting("", "Name of the repository (required).")
    workflow: str = setting("", "Workflow file name, e.g. `ci.yml`, or its id (required).")
    branch: str = setting("main", "Branch whose runs are watched.")
    token: Secret | None = setting(None, "Token sent as `Authorization: Bearer`; a secret reference.")


@dataclass(frozen=True)
class GitLabSourceConfig(SourceConfig):
    api: str = setting("https://gitlab.com/api/v4", "Base URL of the GitLab REST API.")
    project: str = setting("", "Project id or full path, e.g. `42` or `group/project` (required).")
    ref: str = setting("main", "Branch or tag whose pipelines are watched.")
    token: Secret | None = setting(None, "Token sent as `PRIVATE-TOKEN`, a secret reference; unset: none.")


@dataclass(frozen=True)
class JenkinsSourceConfig(SourceConfig):
    job: str = setting("", "URL of the job, e.g. `https://jenkins.example.com/job/app` (required).")
    username: str = setting("", "Jenkins user for HTTP basic authentication; unset: anonymous.")
    token: Secret | None = setting(None, "That user's API token, a secret reference.")


@dataclass(frozen=True)
class MonitorConfig:
    stale_after: float = setting(
        120.0, "Seconds a source may fail to answer before it shows as unreachable.", positive
    )
    colours: dict[str, str] = setting(
        {},
        'State = key of the LED_24_KEY remote, e.g. `failure = "ORANGE"`; states not named keep '
        "their default colour.",
        state_colours,
    )
    octopus: list[OctopusSourceConfig] = setting([], "Octopus Deploy projects: `[[monitor.octopus]]` tables.")
    cctray: list[CCTraySourceConfig] = setting([], "CCTray XML feeds: `[[monitor.cctray]]` tables.")
    github: list[GitHubSourceConfig] = setting([], "GitHub Actions workflows: `[[monitor.github]]` tables.")
    gitlab: list[GitLabSourceConfig] = setting([], "GitLab pipelines: `[[monitor.gitlab]]` tables.")
    jenkins: list[JenkinsSourceConfig] = setting([], "Jenkins jobs: `[[monitor.jenkins]]` tables.")
    own_ci: bool | None = setting(
        None,
        "Show the appliance's own CI, one source per `[[ci.repos]]` repository, from the server's "
        "event stream; unset: on when `[[ci.repos]]` is not empty.",
    )


SAFE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def safe_name(value: str) -> str | None:
    """A name that is also a file name and a URL path segment: no slash, no dot-dot, no blank."""
    import re

    return None if re.fullmatch(SAFE_NAME_PATTERN, value) else "must be 1-64 letters, digits, '.', '_', '-'"


def non_negative(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or more"


@dataclass(frozen=True)
class CIRepoConfig:
    name: str = setting("", "Short name of the repository: in URLs, file names and `/cc.xml`.", safe_name)
    url: str = setting("", "Where to fetch it: anything `git clone` takes (a path, file://, https://, ssh).")
    branch: str = setting("main", "The branch whose commits are built.")
    command: str = setting(
        "",
        "Build command, run by /bin/sh in a clean checkout; empty: unittest discovery of `tests/` "
        "(`python -m unittest discover -s tests`) with the runner's Python, in a subprocess.",
    )
    poll_seconds: float = setting(
        60.0, "How often the observer fetches; a webhook makes it look at once.", positive
    )
    secret: Secret | None = setting(
        None, "Webhook secret: when set, `POST /api/ci/hooks/<name>` must carry a valid X-Hub-Signature-256."
    )


def _repos_problem(repos: list[CIRepoConfig]) -> str | None:
    names = [repo.name for repo in repos]
    if any(not repo.name or not repo.url for repo in repos):
        return "every repository needs a name and a url"
    if len(set(names)) != len(names):
        return "repository names must be unique"
    return None


@dataclass(frozen=True)
class CIConfig:
    repos: list[CIRepoConfig] = setting(
        [], "The repositories to build, as `[[ci.repos]]` tables (`name`, `url`, ...).", _repos_problem
    )
    runners: int = setting(
        1, "Runner programs (`runner-1`..) the stack runs here when repositories are set.", non_negative
    )
    max_attempts: int = setting(
        3, "Attempts of a build whose runner vanished, before it ends as error.", positive
    )
    lease_seconds: float = setting(
        60.0, "A runner silent this long has lost its builds; it renews every third of it.", positive
    )
    wait_seconds: float = setting(
        25.0, "Longest a runner's request for work is held open (long poll).", positive
    )
    timeout_seconds: float = setting(
        3600.0, "A build command running longer is killed (timed out).", positive
    )
    silence_seconds: float = setting(
        600.0, "A build command printing nothing for this long is killed (timed out).", positive
    )
    kill_grace_seconds: float = setting(
        5.0, "Between SIGTERM and SIGKILL to a build's process group.", non_negative
    )
    commits_per_poll: int = setting(
        20, "Most new commits the observer queues per repository and poll.", positive
    )
    max_log_bytes: int = setting(
        32 * 1024 * 1024, "Largest build log kept; output beyond it is cut with a note.", positive
    )


@dataclass(frozen=True)
class ProgressConfig:
    """Filled in by the test-progress capability."""


@dataclass(frozen=True)
class ShowroomConfig:
    """Filled in by the showroom capability."""


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
    except _KeyProblem as problem:
        raise ConfigError(f"{path}: {problem.key}: {problem.message}") from None
    # Absolute, because programs started by supervisord run in another working directory.
    return config.replace(file=path.resolve())


class _KeyProblem(Exception):
    def __init__(self, key: str, message: str):
        super().__init__(key, message)
        self.key = key
        self.message = message


def schema_fields(cls: type) -> list[tuple[dataclasses.Field, Any]]:
    """The documented keys of a section with their resolved types."""
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


def build(cls: type, raw: dict[str, Any], prefix: str, base_dir: Path) -> Any:
    known = {f.name: (f, hint) for f, hint in schema_fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        dotted = f"{prefix}{key}"
        if key not in known:
            choices = ", ".join(sorted(known)) or "none yet"
            raise _KeyProblem(dotted, f"unknown key (known keys here: {choices})")
        f, hint = known[key]
        values[key] = _convert(hint, value, dotted, base_dir)
        check = f.metadata.get("check")
        problem = check(values[key]) if check else None
        if problem:
            raise _KeyProblem(dotted, f"{problem}, got {value!r}")
    return cls(**values)


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint) if a is not type(None))
    if origin is list:
        return f"a list of {_describe(typing.get_args(hint)[0])}"
    if origin is dict:
        return f"a table of {_describe(typing.get_args(hint)[1])}"
    return {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        Path: "a path (string)",
        Secret: 'a secret reference ("env:NAME" or "file:/path")',
    }.get(hint, "a table")


def _convert(hint: Any, value: Any, key: str, base_dir: Path) -> Any:
    origin = typing.get_origin(hint)
    wrong = _KeyProblem(key, f"expected {_describe(hint)}, got {value!r}")
    if origin in (typing.Union, types.UnionType):
        alternatives = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(alternatives) == 1:
            return _convert(alternatives[0], value, key, base_dir)
        # Each alternative in turn: `str | list[str]` takes "a" or ["a", "b"].
        for inner in alternatives:
            try:
                return _convert(inner, value, key, base_dir)
            except _KeyProblem:
                continue
        raise wrong
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise wrong
        return value
    if origin is list:
        if not isinstance(value, list):
            raise wrong
        (item,) = typing.get_args(hint)
        return [_convert(item, v, f"{key}[{i}]", base_dir) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise wrong
        _key_type, item = typing.get_args(hint)
        return {k: _convert(item, v, f"{key}.{k}", base_dir) for k, v in value.items()}
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise wrong
        return build(hint, value, f"{key}.", base_dir)
    if hint is bool:
        if not isinstance(value, bool):
            raise wrong
        return value
    if hint is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise wrong
        return value
    if hint is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise wrong
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise wrong
        return value
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise wrong
        return base_dir / Path(value).expanduser()
    if hint is Secret:
        if not isinstance(value, str):
            raise wrong
        try:
            return Secret(value)
        except ValueError as exc:
            raise _KeyProblem(key, f"{exc}, got {value!r}") from None
    raise TypeError(f"unsupported config type {hint!r} for {key}")


def secret_problems(config: Config) -> list[str]:
    """Every secret reference in the configuration that cannot be read, with its key."""
    problems = []
    for key, secret in _secrets(config, ""):
        try:
            secret.reveal()
        except ConfigError as exc:
            problems.append(f"{key}: {exc}")
    return problems


def _secrets(value: Any, prefix: str) -> typing.Iterator[tuple[str, Secret]]:
    for f, _hint in schema_fields(type(value)):
        item = getattr(value, f.name)
        items = item if isinstance(item, list) else [item]
        for index, entry in enumerate(items):
            key = f"{prefix}{f.name}" + (f"[{index}]" if isinstance(item, list) else "")
            if isinstance(entry, Secret):
                yield key, entry
            elif dataclasses.is_dataclass(entry):
                yield from _secrets(entry, key + ".")


def to_toml(config: Config) -> str:
    """The configuration in effect as TOML, secrets shown as their references only."""
    lines = [f"# from {config.source}"]
    nested: list[tuple[str, Any]] = []
    for f, _hint in schema_fields(Config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            nested.append((f.name, value))
        else:
            lines.append(_toml_line(f.name, value))
    for name, value in nested:
        _section_toml(name, value, lines)
    return "\n".join(lines) + "\n"


def _section_toml(name: str, value: Any, lines: list[str]) -> None:
    lines.append("")
    lines.append(f"[{name}]")
    subsections = []
    for f, _hint in schema_fields(type(value)):
        item = getattr(value, f.name)
        if dataclasses.is_dataclass(item):
            subsections.append((f"{name}.{f.name}", item))
        elif isinstance(item, list) and item and dataclasses.is_dataclass(item[0]):
            subsections.extend((f"[{name}.{f.name}]", entry) for entry in item)
        else:
            lines.append(_toml_line(f.name, item))
    for sub_name, sub in subsections:
        _section_toml(sub_name, sub, lines)


def _toml_line(key: str, value: Any) -> str:
    if value is None:
        return f"# {key} is not set"
    if isinstance(value, Secret):
        return f'{key} = "{value.ref}"  # secret reference; the value is never shown'
    return f"{key} = {_toml_value(value)}"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_value(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
