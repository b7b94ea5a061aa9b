"""The monitor's loop: read every source when it is due, show the worst state on the lamp, and
report to the server.

One thread does everything, in next-due order, and sleeps until the next thing is due, a
source that follows events wakes it (``wake``), or it is told to stop: an idle monitor wakes only
for its sources' intervals, their events, the lamp's re-sends and the report it sends the server
at least every ``heartbeat`` seconds. A source that hangs holds the others back by at most its
``timeout``. A source that cannot be read for a reason that may pass (SourceUnavailable: no
connection, no answer in time, a server error) keeps its last state for ``stale_after`` seconds (one
lost answer is no news), then shows as unreachable; one that is refused (any other error: its
credentials, its URL, an answer of the wrong shape) shows as unreachable at once, since waiting
cannot heal it. Either way its error shows at once. The lamp never waits for the server: an
undelivered report is retried with back-off while the lamp goes on.

What the loop is given (the sources, the lamp driver, the publisher) is made from the
configuration in ``program.py``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from appliance.backoff import Backoff
from appliance.monitor.publisher import Publisher
from appliance.monitor.sources import Reading, Source, SourceError, SourceLost, SourceUnavailable
from appliance.monitor.states import DEFAULT_COLOURS, State, worst

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 60.0
FIRST_RETRY_SECONDS = 1.0


class Lamp(Protocol):
    """What the monitor needs of ``appliance.lamp.driver.LampDriver``."""

    def show(self, key: str) -> None: ...
    def tick(self) -> None: ...
    def next_due(self, now: float) -> float | None: ...
    def status(self) -> dict[str, Any]: ...


def wall_time() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class Watched:
    """A source and what the monitor knows of it."""

    source: Source
    last_read: float  # clock time of the last good answer, or of the start
    next_due: float = 0.0
    state: State = State.UNKNOWN
    since: str = field(default_factory=wall_time)
    checked_at: str | None = None
    reading: Reading | None = None
    error: str | None = None

    def report(self) -> dict[str, Any]:
        return {
            "name": self.source.name,
            "kind": self.source.kind,
            "state": self.state.value,
            "since": self.since,
            "checked_at": self.checked_at,
            "link": self.reading.link if self.reading else None,
            "error": self.error,
            "detail": self.reading.detail if self.reading else None,
        }


class Monitor:
    """The loop; ``step`` does one round at ``clock()`` so that tests can drive time themselves."""

    def __init__(
        self,
        sources: Sequence[Source],
        lamp: Lamp,
        publisher: Publisher,
        stop: threading.Event,
        *,
        colours: Mapping[State, str] = DEFAULT_COLOURS,
        stale_after: float = 120.0,
        heartbeat: float = HEARTBEAT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.lamp = lamp
        self.publisher = publisher
        self.stop = stop
        self.colours = dict(colours)
        self.stale_after = stale_after
        self.heartbeat = heartbeat
        self.clock = clock
        start = clock()
        self.watched = [Watched(source, last_read=start, next_due=start) for source in sources]
        self.state = State.UNKNOWN
        self._published: Any = None  # what the server has, timestamps aside
        self._publish_due = start
        self._publish_backoff = Backoff(FIRST_RETRY_SECONDS, heartbeat)
        self._publish_error: str | None = None
        self._wakeup = threading.Event()
        self._joining: list[Source] = []  # woken before they were watched: see ``wake``
        self._joining_lock = threading.Lock()

    def run(self) -> None:
        """Until ``stop`` is set. The loop sleeps on its own wake-up event, which ``wake`` sets
        and a small thread sets once ``stop`` is (an Event cannot wait for two others)."""
        names = ", ".join(f"{w.source.name} ({w.source.kind})" for w in self.watched) or "none"
        log.info("monitoring %d source(s): %s", len(self.watched), names)
        threading.Thread(target=self._wake_when_stopped, name="monitor-stop", daemon=True).start()
        while not self.stop.is_set():
            self._wakeup.clear()  # before the step: a wake during the step ends the next wait
            self._wakeup.wait(self.step())

    def wake(self, source: Source) -> None:
        """Read ``source`` now; called from the thread of a source fed by events when its reading
        changed. Its state is updated before this call, so a read already under way sees it too.
        A source the monitor does not watch yet (a feed's new tile: a test machine seen for the
        first time) joins it at the next round, after the others."""
        for watched in self.watched:
            if watched.source is source:
                watched.next_due = -math.inf
                break
        else:
            with self._joining_lock:
                self._joining.append(source)
        self._wakeup.set()

    def _join(self) -> None:
        """Watch the sources that woke the monitor before it knew them (in the monitor's thread, so
        that ``watched`` changes only here)."""
        with self._joining_lock:
            joining, self._joining = self._joining, []
        now = self.clock()
        for source in joining:
            if all(watched.source is not source for watched in self.watched):
                log.info("now monitoring %s (%s)", source.name, source.kind)
                self.watched.append(Watched(source, last_read=now, next_due=-math.inf))

    def _wake_when_stopped(self) -> None:
        self.stop.wait()
        self._wakeup.set()

    def step(self) -> float:
        """Do what is due now; return the seconds until something is due next."""
        self._join()
        for watched in self.watched:
            if watched.next_due <= self.clock() and not self.stop.is_set():
                self._read(watched)
        self.state = worst([w.state for w in self.watched])
        self.lamp.show(self.colours[self.state])
        lamp_due = self.lamp.next_due(self.clock())
        if lamp_due is not None and lamp_due <= 0:
            self.lamp.tick()
        self._publish_if_due()
        now = self.clock()
        dues = [w.next_due - now for w in self.watched] + [self._publish_due - now]
        lamp_due = self.lamp.next_due(now)
        if lamp_due is not None:
            dues.append(lamp_due)
        return max(0.0, min(dues))

    def report(self) -> dict[str, Any]:
        return {
            "lamp": {
                "state": self.state.value,
                "colour": self.colours[self.state],
                "meaning": self.state.meaning,
                "driver": self.lamp.status(),
            },
            "sources": [w.report() for w in self.watched],
        }

    def _read(self, watched: Watched) -> None:
        source = watched.source
        started = self.clock()
        watched.next_due = started + source.interval
        try:
            reading = source.poll()
        except SourceError as exc:
            if isinstance(exc, SourceLost):
                watched.last_read = max(watched.last_read, exc.since)
            self._failed(watched, str(exc), may_pass=isinstance(exc, SourceUnavailable))
            return
        except Exception as exc:  # a bug in one source must not stop the lamp, nor look green
            log.exception("source %s: unexpected error", source.name)
            self._failed(watched, f"internal error: {type(exc).__name__}", may_pass=False)
            return
        watched.checked_at = wall_time()
        if watched.error is not None:
            log.info("source %s: readable again", source.name)
        watched.reading, watched.error, watched.last_read = reading, None, self.clock()
        self._set_state(watched, reading.state)

    def _failed(self, watched: Watched, error: str, *, may_pass: bool) -> None:
        """Show ``error`` now; the state only once waiting is over, or at once for an error that
        waiting cannot heal (``may_pass`` false)."""
        watched.checked_at = wall_time()
        if error != watched.error:
            log.warning("source %s: %s", watched.source.name, error)
        watched.error = error
        if not may_pass or self.clock() - watched.last_read >= self.stale_after:
            self._set_state(watched, State.UNREACHABLE)

    def _set_state(self, watched: Watched, state: State) -> None:
        if state is not watched.state:
            log.info("source %s: %s -> %s", watched.source.name, watched.state.value, state.value)
            watched.state, watched.since = state, wall_time()

    def _publish_if_due(self) -> None:
        report = self.report()
        # What the page shows, without the times of the last reads and the lamp's bookkeeping.
        picture = (report["lamp"]["colour"], report["lamp"]["state"],
                   [{**s, "checked_at": None} for s in report["sources"]])  # fmt: skip
        now = self.clock()
        changed = picture != self._published and self._publish_error is None
        if not changed and now < self._publish_due:
            return
        error = self.publisher.publish(report)
        if error is None:
            if self._publish_error is not None:
                log.info("the server takes reports again")
            self._published, self._publish_error = picture, None
            self._publish_due = now + self.heartbeat
            self._publish_backoff.reset()
            return
        if self._publish_error is None:
            log.warning("cannot report to the server (the lamp goes on; retrying quietly): %s", error)
        self._publish_error = error
        self._publish_due = now + self._publish_backoff.next_delay()
