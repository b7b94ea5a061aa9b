"""The JSON descriptions of orchestrated runs, checked key by key so a mistake names its file and key."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OVERLAPS = ("skip", "queue", "parallel")
DESCRIPTION_KEYS = {
    "test_name": str,
    "total_hours": (int, float),
    "unref_setup_fixtures": list,
    "events": list,
}
EVENT_KEYS = {
    "name": str,
    "interval_sec": (int, float),
    "interval_min": (int, float),
    "interval_hour": (int, float),
    "at_startup": bool,
    "at_teardown": bool,
    "params": dict,
    "overlap": str,
}
TYPE_WORDS = {str: "a string", bool: "true or false", list: "a list", dict: "an object"}
INTERVAL_SECONDS = {"interval_sec": 1, "interval_min": 60, "interval_hour": 3600}


class DescriptionError(Exception):
    """Every problem found, each naming its file and key."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class EventSpec:
    name: str
    interval: float | None = None
    at_startup: bool = True
    at_teardown: bool = False
    params: dict[str, Any] = field(default_factory=dict)
    overlap: str = "skip"


@dataclass(frozen=True)
class Description:
    path: Path
    test_name: str
    seconds: float
    unref_setup_fixtures: list[str]
    events: list[EventSpec]


def _type_name(expected) -> str:
    return "a number" if isinstance(expected, tuple) else TYPE_WORDS[expected]


def _check_keys(where: str, data: dict, schema: dict, problems: list[str]) -> None:
    for key, value in data.items():
        if key not in schema:
            problems.append(f"{where}: unknown key {key!r} (known: {', '.join(schema)})")
        # bool is an int in Python; a number key given true is still the wrong type.
        elif not isinstance(value, schema[key]) or (schema[key] is not bool and isinstance(value, bool)):
            problems.append(f"{where}: {key!r} must be {_type_name(schema[key])}, not {json.dumps(value)}")


def _event(path: Path, index: int, data: Any, problems: list[str]) -> EventSpec | None:
    where = f"{path}: events[{index}]"
    if not isinstance(data, dict):
        problems.append(f"{where}: must be an object")
        return None
    before = len(problems)
    _check_keys(where, data, EVENT_KEYS, problems)
    if "name" not in data:
        problems.append(f"{where}: 'name' is required")
    intervals = [key for key in INTERVAL_SECONDS if key in data]
    if len(intervals) > 1:
        problems.append(f"{where}: give one of {', '.join(intervals)}")
    if data.get("overlap", "skip") not in OVERLAPS:
        problems.append(f"{where}: 'overlap' must be one of {', '.join(OVERLAPS)}")
    if len(problems) > before:
        return None
    interval = data[intervals[0]] * INTERVAL_SECONDS[intervals[0]] if intervals else None
    if interval is not None and interval <= 0:
        problems.append(f"{where}: {intervals[0]!r} must be positive")
        return None
    return EventSpec(
        name=data["name"],
        interval=interval,
        at_startup=data.get("at_startup", True),
        at_teardown=data.get("at_teardown", False),
        params=data.get("params", {}),
        overlap=data.get("overlap", "skip"),
    )


def load_description(path: Path) -> Description:
    """Read and check one description; raises DescriptionError listing every problem."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise DescriptionError([f"{path}: {error}"]) from None
    if not isinstance(data, dict):
        raise DescriptionError([f"{path}: must be a JSON object"])
    problems: list[str] = []
    _check_keys(str(path), data, DESCRIPTION_KEYS, problems)
    for key in ("test_name", "total_hours", "events"):
        if key not in data:
            problems.append(f"{path}: {key!r} is required")
    if isinstance(data.get("test_name"), str) and data["test_name"] != path.stem:
        problems.append(f"{path}: 'test_name' is {data['test_name']!r} but the file is named {path.name}")
    fixtures = data.get("unref_setup_fixtures", [])
    if isinstance(fixtures, list) and not all(isinstance(name, str) for name in fixtures):
        problems.append(f"{path}: 'unref_setup_fixtures' must be a list of fixture names")
    events = data.get("events", []) if isinstance(data.get("events"), list) else []
    specs = [_event(path, index, event, problems) for index, event in enumerate(events)]
    if problems:
        raise DescriptionError(problems)
    return Description(path, data["test_name"], data["total_hours"] * 3600, list(fixtures), specs)


def parse_duration(text: str) -> float:
    """Seconds from ``--runtime-orch``: hours as 0.0.10 takes them (``2``, ``0.5``), or ``90s``, ``15m``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise ValueError(f"--runtime-orch={text!r}: give hours (2, 0.5) or a duration such as 90s or 15m")
    return float(match[1]) * {"s": 1, "m": 60, "h": 3600, "": 3600}[match[2]]
