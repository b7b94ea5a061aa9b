"""An orchestrated run's firings, planned ahead: which calls of its events a run makes, and when.

The schedule (``schedule.py``) asks the same ``FiringPlan`` whether a firing exists and when it is
due, so a plan made before the run and the run itself agree on every firing; only the kill switch
(or a float rounding at the end's boundary) makes a run end without some planned ones.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pytest_appliance.orchestration.description import EventSpec

TEARDOWN = -1  # the ``number`` of an at_teardown firing, made once after the end
MAX_NAME = 256  # the tracker's longest test name
LABEL = 200  # an event's part of a firing's name, at most; the rest is its number and time

# A firing's outcome.
OK = "ok"
FAILED = "failed"  # it raised (an assert too), or the kill switch was set while it ran
SKIPPED = "skipped"  # due while its event's last firing still ran, with overlap "skip": not called


@dataclass(frozen=True)
class Firing:
    """One call of one event: at startup, at start + k·interval, or after the end (teardown)."""

    event: str  # the event's name (its function's)
    index: int  # the event's place in the description's ``events``
    number: int  # 0: the at_startup call; k ≥ 1: the one due at start + k·interval; TEARDOWN
    offset: float | None  # seconds after the start it is due; None for a teardown firing
    name: str  # unique in its run, at most 256 characters: "start_playback #3 (+0.6 s)"

    @property
    def key(self) -> tuple[int, int]:
        return self.index, self.number


@dataclass(frozen=True)
class FiringOutcome:
    status: str  # OK, FAILED or SKIPPED
    error: BaseException | None = None  # what it raised, if it raised
    killed: bool = False  # the kill switch was set while it ran (not by the run's end)


def _seconds(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _labels(events: Sequence[EventSpec]) -> list[str]:
    """Each event's part of its firings' names: its name, cut, with its place if that is not unique."""
    cut = [spec.name[:LABEL] for spec in events]
    return [
        label if cut.count(label) == 1 else f"{label} (events[{index}])" for index, label in enumerate(cut)
    ]


class FiringPlan:
    """Every firing a run of ``events`` for ``seconds`` makes unless the kill switch ends it early.

    Iterating yields them in time order (at startup, then by due time, each event's teardown
    firing last), lazily: a week's run of a 1 s event is not held in memory. ``len`` counts them.
    """

    def __init__(self, events: Sequence[EventSpec], seconds: float):
        self.events = list(events)
        self.seconds = seconds
        self._labels = _labels(self.events)

    def first(self, index: int) -> int:
        """The number of the first firing of event ``index`` the schedule may make."""
        return 0 if self.events[index].at_startup else 1

    def offset(self, index: int, number: int) -> float | None:
        """When firing ``number`` of event ``index`` is due, in seconds after the start; None if
        the run makes no such firing before its end."""
        spec = self.events[index]
        if number == 0 and spec.at_startup:
            at = 0.0
        elif number >= 1 and spec.interval is not None:
            at = number * spec.interval
        else:
            return None
        return at if at < self.seconds else None

    def firing(self, index: int, number: int) -> Firing:
        spec, label = self.events[index], self._labels[index]
        if number == TEARDOWN:
            return Firing(spec.name, index, number, None, f"{label} (teardown)"[:MAX_NAME])
        offset = number * spec.interval if number and spec.interval is not None else 0.0
        if spec.interval is None:
            name = f"{label} (startup)"
        else:
            ordinal = number + 1 if spec.at_startup else number
            name = f"{label} #{ordinal} (+{_seconds(offset)} s)"
        return Firing(spec.name, index, number, offset, name[:MAX_NAME])

    def _last(self, index: int) -> int:
        """The number of the last interval firing of event ``index`` before the end, 0 if none."""
        interval = self.events[index].interval
        if interval is None or self.seconds <= interval:
            return 0
        last = max(math.ceil(self.seconds / interval) - 1, 0)
        while (last + 1) * interval < self.seconds:
            last += 1
        while last >= 1 and last * interval >= self.seconds:
            last -= 1
        return last

    def count(self, index: int) -> int:
        """How many firings event ``index`` makes before the end (its teardown firing not counted)."""
        return self._last(index) + (self.offset(index, 0) is not None)

    def __len__(self) -> int:
        return sum(self.count(index) + spec.at_teardown for index, spec in enumerate(self.events))

    def _timed(self, index: int) -> Iterator[tuple[float, int, int]]:
        if self.offset(index, 0) is not None:
            yield 0.0, index, 0
        interval = self.events[index].interval
        for number in range(1, self._last(index) + 1):
            yield number * interval, index, number

    def __iter__(self) -> Iterator[Firing]:
        for _, index, number in heapq.merge(*(self._timed(index) for index in range(len(self.events)))):
            yield self.firing(index, number)
        for index, spec in enumerate(self.events):
            if spec.at_teardown:
                yield self.firing(index, TEARDOWN)
