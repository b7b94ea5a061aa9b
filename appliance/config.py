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


@dataclass(frozen=True)
class LampConfig:
    """Filled in by the lamp capability."""


@dataclass(frozen=True)
class MonitorConfig:
    """Filled in by the monitor capability."""


@dataclass(frozen=True)
class CIConfig:
    """Filled in by the CI capability."""


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
