"""The machinery of the configuration schema: typed keys with help texts, secret references,
and the conversion of TOML values that names the dotted key of any problem.

A section is a frozen dataclass and a key a field made by ``setting(default, help, check)``.
Each capability declares its section in its own ``settings.py``; ``appliance.config`` assembles
them into the one file and loads it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any, Literal


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


def setting(
    default: Any,
    help: str,
    check: typing.Callable[[Any], str | None] | None = None,
    *,
    required: bool = False,
    conceal: bool = False,
) -> Any:
    """A documented key; ``check`` returns a problem as text, or None when the value is fine. A
    ``required`` key must be given, and not empty, in every table of its section. A ``conceal``ed
    key's value is never repeated in a problem: a person may have put a password there."""
    metadata = {"help": help, "check": check, "required": required, "conceal": conceal}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def section(cls: type, help: str) -> Any:
    return field(default_factory=cls, metadata={"help": help})


def port_number(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "must be between 1 and 65535"


def positive(value: float) -> str | None:
    return None if value > 0 else "must be greater than 0"


SAFE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


def safe_name(value: str) -> str | None:
    """A name that is also a file name and a URL path segment: no slash, no dot-dot, no blank."""
    return None if re.fullmatch(SAFE_NAME_PATTERN, value) else "must be 1-64 letters, digits, '.', '_', '-'"


def non_negative(value: float) -> str | None:
    return None if value >= 0 else "must be 0 or more"


class KeyProblem(Exception):
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
            raise KeyProblem(dotted, f"unknown key (known keys here: {choices})")
        f, hint = known[key]
        values[key] = _convert(hint, value, dotted, base_dir)
        check = f.metadata.get("check")
        problem = check(values[key]) if check else None
        if problem:
            raise KeyProblem(dotted, problem if f.metadata.get("conceal") else f"{problem}, got {value!r}")
    for key, (f, _hint) in known.items():
        if f.metadata.get("required") and not values.get(key):
            raise KeyProblem(f"{prefix}{key}", "must be set" + (f", got {raw[key]!r}" if key in raw else ""))
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
    wrong = KeyProblem(key, f"expected {_describe(hint)}, got {value!r}")
    if origin in (typing.Union, types.UnionType):
        alternatives = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(alternatives) == 1:
            return _convert(alternatives[0], value, key, base_dir)
        # Each alternative in turn: `str | list[str]` takes "a" or ["a", "b"].
        for inner in alternatives:
            try:
                return _convert(inner, value, key, base_dir)
            except KeyProblem:
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
        except ValueError as exc:  # the value is not repeated: it may be the secret itself
            raise KeyProblem(key, str(exc)) from None
    raise TypeError(f"unsupported config type {hint!r} for {key}")


def secrets_in(value: Any, prefix: str) -> typing.Iterator[tuple[str, Secret]]:
    for f, _hint in schema_fields(type(value)):
        item = getattr(value, f.name)
        if isinstance(item, list):
            entries = [(f"{prefix}{f.name}[{index}]", entry) for index, entry in enumerate(item)]
        elif isinstance(item, dict):
            entries = [(f"{prefix}{f.name}.{name}", entry) for name, entry in item.items()]
        else:
            entries = [(f"{prefix}{f.name}", item)]
        for key, entry in entries:
            if isinstance(entry, Secret):
                yield key, entry
            elif dataclasses.is_dataclass(entry):
                yield from secrets_in(entry, key + ".")


def as_toml(section: Any) -> str:
    """A section (a schema dataclass) as TOML that reads back as the same section: secrets as
    their references, paths as strings."""
    import tomli_w  # only `config show` writes TOML; the programs need not load the writer

    # Strings stay on one line, escaped: tomli_w's multi-line strings turn "\r\n" into "\n".
    return tomli_w.dumps(_plain(section))


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        # TOML has no null: a key whose value is None is left out, and reads back as its default.
        return {
            f.name: _plain(item)
            for f, _hint in schema_fields(type(value))
            if (item := getattr(value, f.name)) is not None
        }
    if isinstance(value, Secret):
        return value.ref
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
