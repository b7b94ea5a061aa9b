"""Tests that run at once, reported so that the tracker never shows two of a run running.

The tracker shows one running test per run: a start marks any other running test of the run
``unknown``, even a start naming its test by the dry run's ids. Tests may overlap (an orchestrated
run's firings, a session's tests under pytest-xdist), so at most one test is *shown* running at a
time, and no start is ever sent while one is:

- a test that starts while none is shown is started at once and stopped when it ends: live;
- one that starts while another is shown is held; once it has ended it waits until none is
  shown, then its start and stop are sent together, with the times it really started and ended;
- when the shown test stops, the held tests that have ended are sent so, then the one of the
  others still running that started first is started (with the time it really started) and shown.

So each test gets its true times and status, matched exactly by the dry run's ids; only a held
test reaches the tracker late. A test that ends without having started (a firing skipped for
overlap) is a start and a stop at once. Tests are known by their places in the dry run. Callers
may be in other threads (the orchestration plugin's event threads), so every method takes
``lock``; none waits on anything but it, and the sender never blocks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from pytest_appliance.progress.sender import START, STOP, Report, Sender


@dataclass
class _Held:
    """A test not shown: its times, and its status once it has ended."""

    started: str  # timestamp
    stopped: str | None = None
    status: str | None = None


class OneRunning:
    """The starts and stops of a group of tests, at most one shown running. ``make(path, place,
    **body)`` makes a report, ``now()`` the time."""

    def __init__(self, sender: Sender, make: Callable[..., Report], now: Callable[[], str]):
        self.sender, self.make, self.now = sender, make, now
        self.lock = threading.Lock()
        self.reported: set[int] = set()  # places whose start was sent (or handed to the sender)
        self.shown: int | None = None  # the place of the test shown running
        self.held: dict[int, _Held] = {}  # tests not shown, running or ended, in the order they started
        self.closed = False  # no more reports

    def _pair(self, index: int, started: str, stopped: str, status: str) -> list[Report]:
        self.reported.add(index)
        return [
            self.make(START, index, timestamp_start=started),
            self.make(STOP, index, status=status, timestamp_stop=stopped),
        ]

    def _show_next(self) -> list[Report]:
        """With none shown: the held tests that ended, then the first still running, shown."""
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

    def started(self, index: int) -> None:
        """The test at place ``index`` starts (again: ignored)."""
        with self.lock:
            if self.closed or index in self.reported or index in self.held:
                return
            if self.shown is None:
                self.shown = index
                self.reported.add(index)
                self.sender.send(self.make(START, index, timestamp_start=self.now()))
            else:
                self.held[index] = _Held(self.now())

    def finished(self, index: int, status: str) -> None:
        """The test at place ``index`` ended with ``status``; it may never have started."""
        with self.lock:
            if self.closed:
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
            elif self.shown is None:  # never started, none shown
                reports = self._pair(index, now, now, status)
            else:  # never started, another shown
                self.held[index] = _Held(now, now, status)
                return
            self.sender.send_all(reports)

    def end(self, then: list[tuple[int, str | None, str]]) -> None:
        """The group ends: a test still running has lost its ending (``unknown``), the held ones are
        sent; then each of ``then`` (place, start time or None for now, status) not reported yet, as
        a start and a stop. No more reports after."""
        with self.lock:
            if self.closed:
                return
            now = self.now()
            reports = []
            if self.shown is not None:
                reports.append(self.make(STOP, self.shown, status="unknown", timestamp_stop=now))
                self.shown = None
            for held in self.held.values():
                if held.status is None:
                    held.stopped, held.status = now, "unknown"
            reports += self._show_next()
            for index, started, status in then:
                if index not in self.reported:
                    reports += self._pair(index, now if started is None else started, now, status)
            self.closed = True
            self.sender.send_all(reports)

    def interrupt(self) -> tuple[set[int], bool]:
        """The session ends, maybe in the middle of this group: no more reports after the ones
        that end it. The held tests that ended are sent; the ones still running are cancelled (the
        tracker cancels every waiting test of the run with the first). As the shown one must stop
        before a held one is sent, it is stopped ``unknown`` if a held one has ended. The places
        started, and whether a cancelled stop was sent."""
        with self.lock:
            started = self.reported | set(self.held)
            if self.closed or self.shown is None:  # then none is held either
                self.closed = True
                return started, False
            now = self.now()
            ended = {index: held for index, held in self.held.items() if held.status is not None}
            running = [(index, held) for index, held in self.held.items() if held.status is None]
            if not ended:  # the held ones are waiting in the tracker: cancelled with the shown one
                reports = [self.make(STOP, self.shown, status="cancelled", timestamp_stop=now)]
            else:
                reports = [self.make(STOP, self.shown, status="unknown", timestamp_stop=now)]
                for index, held in ended.items():
                    reports += self._pair(index, held.started, held.stopped, held.status)
                if running:
                    index, held = running[0]
                    reports += self._pair(index, held.started, now, "cancelled")
            self.shown = None
            self.held.clear()
            self.closed = True
            self.sender.send_all(reports)
            return started, not ended or bool(running)
