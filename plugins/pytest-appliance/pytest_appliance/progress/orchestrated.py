"""An orchestrated run (pytest-appliance's orchestration plugin) reported firing by firing.

The run is one item, but its dry-run scenario lists its planned firings as tests (the first
``MAX_FIRINGS``), then one test for the run as a whole (``RUN_TEST``), whose status is the item's:
it carries what no firing does (an error sent through the result reporter, a fixture's error).

The tracker shows one running test per run: a start marks any other running test ``unknown``.
Firings may overlap (overlap ``queue`` or ``parallel``, two events due together), so at most one
firing is *shown* running at a time, and no start is ever sent while one is:

- a firing that starts while none is shown is started at once and stopped when it ends: live;
- one that starts while another is shown is held; once it has ended it waits until none is
  shown, then its start and stop are sent together, with the times it really started and ended;
- when the shown firing stops, the held firings that have ended are sent so, then the one of the
  others still running that started first is started (with the time it really started) and shown.

So each firing gets its true times and status, matched exactly by the dry run's ids; only a held
firing reaches the tracker late. A firing skipped for overlap is a start and a ``warning`` stop at
once. At the item's end, the listed firings that never came (the kill switch ended the run, or a
fixture failed) are a start and a ``warning`` stop each, never ``cancelled``, which would cancel the
rest of the session's run; then the run test. The firing hooks call in from event threads, so
every method takes ``lock``; none waits on anything but it, and the sender never blocks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from pytest_appliance.progress.sender import START, STOP, Report, Sender

MAX_FIRINGS = 2000  # firings listed per orchestrated item; the rest are not reported
RUN_TEST = "the whole run"  # the run test's name; a firing's always has "#" or "(...)"

# A firing's outcome (the orchestration plugin's ``FiringOutcome.status``) as the tracker's status.
STATUSES = {"ok": "passed", "failed": "failed", "skipped": "warning"}


@dataclass
class _Held:
    """A firing not shown: its times, and its status once it has ended."""

    started: str  # timestamp
    stopped: str | None = None
    status: str | None = None


class OrchestratedReport:
    """The reports of one orchestrated item, whose firings have dry-run places ``places`` (by the
    firing's ``key``) and whose run test has place ``run_place``."""

    def __init__(
        self,
        sender: Sender,
        make: Callable[..., Report],
        now: Callable[[], str],
        places: dict[tuple[int, int], int],
        run_place: int,
    ):
        self.sender, self.make, self.now = sender, make, now
        self.places = places
        self.run_place = run_place
        self.lock = threading.Lock()
        self.reported: set[int] = set()  # places whose start was sent (or handed to the sender)
        self.shown: int | None = None  # the place of the firing shown running
        self.held: dict[int, _Held] = {}  # firings not shown, running or ended, in the order they started
        self.began: str | None = None
        self.closed = False

    def _pair(self, index: int, started: str, stopped: str, status: str) -> list[Report]:
        self.reported.add(index)
        return [
            self.make(START, index, timestamp_start=started),
            self.make(STOP, index, status=status, timestamp_stop=stopped),
        ]

    def _show_next(self) -> list[Report]:
        """With none shown: the held firings that ended, then the first still running, shown."""
        reports = []
        for index, held in list(self.held.items()):
            if held.status is not None:
                reports += self._pair(index, held.started, held.stopped, held.status)
                del self.held[index]
        running = next(iter(self.held), None)
        if running is not None:
            self.reported.add(running)
            reports.append(self.make(START, running, timestamp_start=self.held.pop(running).started))
            self.shown = running
        return reports

    def begin(self) -> None:
        with self.lock:
            self.began = self.now()

    def started(self, key: tuple[int, int]) -> None:
        index = self.places.get(key)
        with self.lock:
            if index is None or self.closed or index in self.reported or index in self.held:
                return  # not listed (beyond the cap), or reported already
            if self.shown is None:
                self.shown = index
                self.reported.add(index)
                self.sender.send(self.make(START, index, timestamp_start=self.now()))
            else:
                self.held[index] = _Held(self.now())

    def finished(self, key: tuple[int, int], outcome: str) -> None:
        index = self.places.get(key)
        status = STATUSES.get(outcome, "unknown")
        with self.lock:
            if index is None or self.closed:
                return
            now = self.now()
            if index == self.shown:
                self.shown = None
                reports = [self.make(STOP, index, status=status, timestamp_stop=now), *self._show_next()]
            elif index in self.held:
                self.held[index].stopped, self.held[index].status = now, status
                return
            elif index in self.reported:
                return
            elif self.shown is None:  # skipped, none shown
                reports = self._pair(index, now, now, status)
            else:  # skipped while another is shown
                self.held[index] = _Held(now, now, status)
                return
            self.sender.send_all(reports)

    def end(self, status: str) -> None:
        """The item ended with ``status``: what is left, the firings that never came, the run test."""
        with self.lock:
            if self.closed:
                return
            now = self.now()
            reports = []
            # Every firing has finished by the item's end; one that has not lost its ending.
            if self.shown is not None:
                reports.append(self.make(STOP, self.shown, status="unknown", timestamp_stop=now))
                self.shown = None
            for held in self.held.values():
                if held.status is None:
                    held.stopped, held.status = now, "unknown"
            reports += self._show_next()
            for index in sorted(set(self.places.values()) - self.reported):
                reports += self._pair(index, now, now, "warning")
            reports += self._pair(self.run_place, now if self.began is None else self.began, now, status)
            self.closed = True
            self.sender.send_all(reports)

    def close(self) -> tuple[set[int], int | None]:
        """The session ends (this item may not have): no more reports. The places reported, and
        the one shown running, if any."""
        with self.lock:
            self.closed = True
            return set(self.reported), self.shown
