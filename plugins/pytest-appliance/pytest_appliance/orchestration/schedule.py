"""Firing events on time: absolute deadlines on a monotonic clock, waiting on the kill switch.

Event k of an interval event is due at start + k·interval, so lateness never accumulates, and
the loop waits on the kill switch rather than sleeping, so setting it stops the run at once.
Which firings exist and when they are due is the run's ``FiringPlan`` (``firings.py``), so a plan
made ahead agrees with the run. An ``Observer`` hears each firing start and finish, from the
thread that makes it; the schedule knows nothing of who listens.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pytest_appliance.orchestration.description import EventSpec
from pytest_appliance.orchestration.firings import (
    FAILED,
    OK,
    SKIPPED,
    TEARDOWN,
    Firing,
    FiringOutcome,
    FiringPlan,
)


class Clock(Protocol):
    def now(self) -> float: ...

    def wait(self, switch, seconds: float) -> bool:
        """Wait until ``switch`` is set or ``seconds`` pass; whether it is set."""


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    def wait(self, switch, seconds: float) -> bool:
        return switch.wait(max(seconds, 0))


class Observer(Protocol):
    """Hears each firing of a run, from the thread that makes it: an event's own thread, or the
    run's thread for a skipped firing and for the teardown firings. Several may call at once."""

    def started(self, firing: Firing) -> None:
        """``firing`` is about to call its event."""

    def finished(self, firing: Firing, outcome: FiringOutcome) -> None:
        """``firing`` returned, raised, or was skipped (then without ``started``)."""


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
    """One event of a run: its next firing and its runs, which ``overlap`` keeps apart or not."""

    def __init__(self, index: int, spec: EventSpec, call: Callable[[], object], run: Run):
        self.index, self.spec, self.call, self.run = index, spec, call, run
        self.stats = EventStats()
        self.firing = run.plan.first(index)  # the number of the next firing
        self.lock = threading.Lock()
        self.active = 0
        self.queued: deque[int] = deque()  # numbers of the firings waiting for the running one
        self.threads: list[threading.Thread] = []

    def due(self) -> float | None:
        offset = self.run.plan.offset(self.index, self.firing)
        return None if offset is None else self.run.start + offset

    def fire(self, now: float) -> None:
        self.stats.jitter.append(now - self.due())
        number, self.firing = self.firing, self.firing + 1
        with self.lock:
            skipped = bool(self.active) and self.spec.overlap == "skip"
            if skipped:
                self.stats.skipped_overlaps += 1
            elif self.active and self.spec.overlap == "queue":
                self.queued.append(number)
                return
            else:
                self.active += 1
        if skipped:
            self.run.notify("finished", self.run.plan.firing(self.index, number), FiringOutcome(SKIPPED))
            return
        thread = threading.Thread(target=self._work, args=(number,), name=f"orchestration-{self.spec.name}")
        self.threads.append(thread)
        thread.start()

    def _work(self, number: int) -> None:
        while True:
            self.call_once(number)
            with self.lock:
                if not self.queued:
                    self.active -= 1
                    return
                number = self.queued.popleft()

    def call_once(self, number: int) -> None:
        firing = self.run.plan.firing(self.index, number)
        self.run.notify("started", firing)
        self.stats.runs += 1
        switch_was_set = self.run.kill_switch.is_set()
        error = None
        try:
            self.call()
        except Exception as raised:
            error = raised
            self.stats.failures += 1
            self.run.errors.append(
                EventError(self.spec.name, self.run.clock.now() - self.run.start, traceback.format_exc())
            )
        # Set while it ran, and not by the run's end: it (or something at the same time) ended the run.
        killed = not switch_was_set and not self.run.ended and self.run.kill_switch.is_set()
        status = FAILED if error is not None or killed else OK
        self.run.notify("finished", firing, FiringOutcome(status, error, killed))

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
        observer: Observer | None = None,
    ):
        self.clock = clock or MonotonicClock()
        self.seconds = seconds
        self.kill_switch = kill_switch
        self.observer = observer
        self.plan = FiringPlan([spec for spec, _ in events], seconds)
        self.errors: list[EventError] = []
        self.start = 0.0
        self.ended = False  # the end came (rather than the kill switch); set before the run sets the switch
        self.events = [ScheduledEvent(index, spec, call, self) for index, (spec, call) in enumerate(events)]

    def notify(self, method: str, firing: Firing, *args) -> None:
        """Tell the observer; one that raises fails the run as an event would, and stops nothing."""
        if self.observer is None:
            return
        try:
            getattr(self.observer, method)(firing, *args)
        except Exception:
            self.errors.append(
                EventError(
                    f"the observer of {firing.name}", self.clock.now() - self.start, traceback.format_exc()
                )
            )

    def __call__(self) -> Outcome:
        self.start = self.clock.now()
        end = self.start + self.seconds
        killed_at = None
        while True:
            # Every firing due before the end (the plan says which) fires, however late the loop woke.
            for event in self.events:
                due = event.due()
                while due is not None and due <= self.clock.now():
                    event.fire(self.clock.now())
                    due = event.due()
            now = self.clock.now()
            if now >= end:
                self.ended = True
                break
            next_due = min((due for e in self.events if (due := e.due()) is not None), default=end)
            if self.clock.wait(self.kill_switch, next_due - now):
                killed_at = self.clock.now() - self.start
                break
        self.kill_switch.set()
        for event in self.events:
            event.join()
        for event in self.events:
            if event.spec.at_teardown:
                event.call_once(TEARDOWN)
        return Outcome(self.errors, {event.spec.name: event.stats for event in self.events}, killed_at)
