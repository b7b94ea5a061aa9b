"""The `[progress]` section: who may report test progress, and when a silent run is interrupted."""

from __future__ import annotations

from dataclasses import dataclass

from appliance.schema import positive, setting


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
