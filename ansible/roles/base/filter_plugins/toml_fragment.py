"""The ``toml_fragment`` filter: TOML text from a mapping, for /etc/appliance/appliance.toml.d/.

The roles describe their sections of the appliance's configuration as YAML mappings; this turns
one into TOML. The ansible-core this project pins has no TOML writer (community.general's
``to_toml`` arrives with a later release), and the appliance's configuration needs only tables,
arrays of tables, strings, numbers, booleans and lists of them. ``None`` leaves a key out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    # JSON string escapes are TOML basic-string escapes; DEL is the one character TOML also wants
    # escaped and JSON leaves alone.
    return json.dumps(text).replace("\x7f", "\\u007f")


def _is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def _is_table_array(value: Any) -> bool:
    return _is_list(value) and bool(value) and all(isinstance(item, Mapping) for item in value)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        return (
            "{ "
            + ", ".join(f"{_key(str(k))} = {_value(v)}" for k, v in value.items() if v is not None)
            + " }"
        )
    if _is_list(value):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"toml_fragment: cannot write {type(value).__name__} {value!r} as TOML")


def _table(lines: list[str], path: list[str], table: Mapping, header: str | None) -> None:
    if header:
        lines.extend(["", header])
    nested = []
    for key, value in table.items():
        if value is None:
            continue
        if isinstance(value, Mapping) or _is_table_array(value):
            nested.append((str(key), value))
        else:
            lines.append(f"{_key(str(key))} = {_value(value)}")
    for key, value in nested:
        inner = [*path, _key(key)]
        name = ".".join(inner)
        if isinstance(value, Mapping):
            _table(lines, inner, value, f"[{name}]")
        else:
            for item in value:
                _table(lines, inner, item, f"[[{name}]]")


def toml_fragment(data: Mapping) -> str:
    """The mapping as TOML: plain keys first, then its tables, each after a blank line."""
    if not isinstance(data, Mapping):
        raise TypeError(f"toml_fragment: expected a mapping, got {type(data).__name__}")
    lines: list[str] = []
    _table(lines, [], data, None)
    return "\n".join(lines).strip("\n") + "\n"


class FilterModule:
    def filters(self) -> dict:
        return {"toml_fragment": toml_fragment}
