"""The ``toml_fragment`` filter: TOML text from a mapping, for /etc/appliance/appliance.toml.d/.

The roles describe their sections of the appliance's configuration as YAML mappings; this turns
one into TOML with tomli-w, the TOML writer by tomli's author, which the Ansible controller
therefore needs (molecule/requirements.txt). ``None`` leaves a key out: TOML has no null.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import tomli_w


def _plain(value: Any) -> Any:
    # Ansible hands over mappings and sequences of its own types; tomli_w writes dicts and lists.
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [_plain(item) for item in value]
    return value


def toml_fragment(data: Mapping) -> str:
    """The mapping as TOML: plain keys first, then its tables."""
    if not isinstance(data, Mapping):
        raise TypeError(f"toml_fragment: expected a mapping, got {type(data).__name__}")
    return tomli_w.dumps(_plain(data))


class FilterModule:
    def filters(self) -> dict:
        return {"toml_fragment": toml_fragment}
