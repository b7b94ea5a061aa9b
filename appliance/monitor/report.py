"""What the monitor reports to the server: the lamp's state and colour and each source's state.

The server keeps the latest report for the status page and checks it on the way in, so a
malformed report is refused with a message rather than shown half-broken.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from appliance.monitor.states import State

KEY_NAME = re.compile(r"^[A-Z0-9_]{1,32}$")


class ReportError(ValueError):
    """A report that does not have the documented shape; the message says where."""


@dataclass(frozen=True)
class SourceReport:
    name: str
    kind: str
    state: str
    since: str | None
    checked_at: str | None
    link: str | None
    error: str | None
    detail: str | None
    meaning: str


@dataclass(frozen=True)
class MonitorReport:
    state: str
    colour: str
    meaning: str
    driver: dict[str, Any]
    sources: list[SourceReport]
    received_at: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _text(obj: dict, key: str, where: str, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ReportError(f"{where}.{key}: expected a non-empty string, got {value!r}")
    return value


def _state(obj: dict, where: str) -> str:
    value = obj.get("state")
    try:
        return State(value).value
    except ValueError:
        raise ReportError(
            f"{where}.state: {value!r} is not one of {', '.join(s.value for s in State)}"
        ) from None


def parse_report(body: Any) -> MonitorReport:
    if not isinstance(body, dict) or not isinstance(body.get("lamp"), dict):
        raise ReportError('expected a JSON object with "lamp" and "sources"')
    lamp = body["lamp"]
    colour = _text(lamp, "colour", "lamp")
    if not KEY_NAME.match(colour):
        raise ReportError(f"lamp.colour: {colour!r} is not a key name like RED")
    driver = lamp.get("driver") or {}
    if not isinstance(driver, dict):
        raise ReportError("lamp.driver: expected an object")
    sources = body.get("sources", [])
    if not isinstance(sources, list) or not all(isinstance(s, dict) for s in sources):
        raise ReportError("sources: expected a list of objects")
    state = _state(lamp, "lamp")
    return MonitorReport(
        state=state,
        colour=colour,
        meaning=State(state).meaning,
        driver=driver,
        sources=[_source(s, f"sources[{i}]") for i, s in enumerate(sources)],
        received_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _source(obj: dict, where: str) -> SourceReport:
    state = _state(obj, where)
    return SourceReport(
        name=_text(obj, "name", where),
        kind=_text(obj, "kind", where),
        state=state,
        since=_text(obj, "since", where, required=False),
        checked_at=_text(obj, "checked_at", where, required=False),
        link=_text(obj, "link", where, required=False),
        error=_text(obj, "error", where, required=False),
        detail=_text(obj, "detail", where, required=False),
        meaning=State(state).meaning,
    )


class LatestReport:
    """The last report received, shared by the server's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._report: MonitorReport | None = None

    def get(self) -> MonitorReport | None:
        with self._lock:
            return self._report

    def replace(self, report: MonitorReport) -> bool:
        """Keep ``report``; True when it shows something else than the previous one (its
        timestamp aside), so that pages are woken only for a real change."""
        with self._lock:
            previous, self._report = self._report, report
        return previous is None or dataclasses.replace(previous, received_at="") != dataclasses.replace(
            report, received_at=""
        )
