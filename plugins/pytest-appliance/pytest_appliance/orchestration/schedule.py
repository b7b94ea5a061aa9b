"""Firing events on time: absolute deadlines on a monotonic clock, waiting on the kill switch.

Event k of an interval event is due at start + k·interval, so lateness never accumulates, and
the loop waits on the kill switch rather than sleeping, so setting it stops the run at once.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pytest_appliance.orchestration.description import EventSpec


class Clock(Protocol):
    def now(self) -> float: ...

    def wait(self, switch, seconds: float) -> bool:
        """Wait until ``switch`` is set or ``seconds`` pass; whether it is set."""


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    def wait(self, switch, seconds: float) -> bool:
        return switch.wait(max(seconds, 0))


@dataclass
class EventError:
    event: str
    at: float  # seconds since the start
    traceback: str


@dataclass
class EventStats:
    runs: int = 0
    failures: int = 0
    skipped_overlaps: int = 0
    jitter: list[float] = field(default_factory=list)  # seconds between due and fired


@dataclass
class Outcome:
    errors: list[EventError]
    stats: dict[str, EventStats]
    killed_at: float | None  # when the kill switch ended the run early, else None


class ScheduledEvent:
    """One event of a run: its next deadline and its runs, which ``overlap`` keeps apart or not."""

    def __init__(self, spec: EventSpec, call: Callable[[], object], run: Run):
        self.spec, self.call, self.run = spec, call, run
        self.stats = EventStats()
        self.firing = 0 if spec.at_startup else 1
        self.lock = threading.Lock()
        self.active = 0
        self.queued = 0
        self.threads: list[threading.Thread] = []

    def due(self) -> float | None:
        if self.spec.interval is None:
            return self.run.start if self.firing == 0 else None
        return self.run.start + self.firing * self.spec.interval

    def fire(self, now: float) -> None:
        self.stats.jitter.append(now - self.due())
        self.firing += 1
        with self.lock:
            if self.active and self.spec.overlap == "skip":
                self.stats.skipped_overlaps += 1
                return
            if self.active and self.spec.overlap == "queue":
                self.queued += 1
                return
            self.active += 1
        thread = threading.Thread(target=self._work, name=f"orchestration-{self.spec.name}")
        self.threads.append(thread)
        thread.start()

    def _work(self) -> None:
        while True:
            self.call_once()
            with self.lock:
                if not self.queued:
                    self.active -= 1
                    return
                self.queued -= 1

    def call_once(self) -> None:
        self.stats.runs += 1
        try:
            self.call()
        except Exception:
            self.stats.failures += 1
            self.run.errors.append(
                EventError(self.spec.name, self.run.clock.now() - self.run.start, traceback.format_exc())
            )

    def join(self) -> None:
        for thread in self.threads:
            thread.join()


class Run:
    """One orchestrated run: ``events`` maps each spec to the function that calls it."""

    def __init__(
        self,
        events: list[tuple[EventSpec, Callable[[], object]]],
        seconds: float,
        kill_switch,
        clock: Clock | None = None,
    ):
        self.clock = clock or MonotonicClock()
        self.seconds = seconds
        self.kill_switch = kill_switch
        self.errors: list[EventError] = []
        self.start = 0.0
        self.events = [ScheduledEvent(spec, call, self) for spec, call in events]

    def __call__(self) -> Outcome:
        self.start = self.clock.now()
        end = self.start + self.seconds
        killed_at = None
        while True:
            # Every firing due before the end fires, however late the loop woke.
            for event in self.events:
                due = event.due()
                while due is not None and due < end and due <= self.clock.now():
                    event.fire(self.clock.now())
                    due = event.due()
            now = self.clock.now()
            if now >= end:
                break
            next_due = min(
                (due for e in self.events if (due := e.due()) is not None and due < end), default=end
            )
            if self.clock.wait(self.kill_switch, next_due - now):
                killed_at = self.clock.now() - self.start
                break
        self.kill_switch.set()
        for event in self.events:
            event.join()
        for event in self.events:
            if event.spec.at_teardown:
                event.call_once()
        return Outcome(self.errors, {event.spec.name: event.stats for event in self.events}, killed_at)
