"""The `[progress]` section: who may report test progress, and when a silent run is interrupted."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.schema import Secret, positive, setting

MAX_MACHINE_NAME = 256  # as the tracker takes it (protocol.py)


def _tokens_problem(tokens: dict[str, Secret]) -> str | None:
    for name in tokens:
        if not name or len(name) > MAX_MACHINE_NAME:
            return f"a machine's name has 1 to {MAX_MACHINE_NAME} characters, got {name[:40]!r}"
    return None


@dataclass(frozen=True)
class ProgressConfig:
    interrupted_after: float = setting(
        1800.0,
        "Seconds without a report after which an unfinished run shows as `interrupted`.",
        positive,
    )
    allow_anonymous: bool = setting(
        False,
        "Take test machines' reports without a token (clients of the seed that send none), from "
        "this machine (loopback) only unless `anonymous_from_lan` is set.",
    )
    anonymous_from_lan: bool = setting(
        False, "With `allow_anonymous`: take reports without a token from any address, not only loopback."
    )
    tokens: dict[str, Secret] = setting(
        {},
        'Per-machine tokens, `"machine name" = "file:/path"` (or `env:NAME`): a machine\'s token '
        "reports for that machine alone; the progress token reports for any.",
        _tokens_problem,
    )
