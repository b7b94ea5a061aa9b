"""An orchestrated run (pytest-appliance's orchestration plugin) reported firing by firing.

The run is one item, but its dry-run scenario lists its planned firings as tests (the first
``MAX_FIRINGS``), then one test for the run as a whole (``RUN_TEST``), whose status is the item's:
it carries what no firing does (an error sent through the result reporter, a fixture's error).

Firings may overlap (overlap ``queue`` or ``parallel``, two events due together), and the tracker
shows one running test per run, so they go through ``one_running.OneRunning``: at most one firing
is shown running, one that starts while another is shown is held and sent as a start and a stop
together, with its real times, once none is. A firing skipped for overlap is a start and a
``warning`` stop at once. At the item's end, the listed firings that never came (the kill switch
ended the run, or a fixture failed) are a start and a ``warning`` stop each, never ``cancelled``,
which would cancel the rest of the session's run; then the run test. The firing hooks call in from
event threads; ``OneRunning`` takes its lock.

Under pytest-xdist the firings run in a worker, whose hooks the controller never sees: there an
orchestrated item is one plain test.
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_appliance.progress.one_running import OneRunning
from pytest_appliance.progress.sender import Report, Sender

MAX_FIRINGS = 2000  # firings listed per orchestrated item; the rest are not reported
RUN_TEST = "the whole run"  # the run test's name; a firing's always has "#" or "(...)"

# A firing's outcome (the orchestration plugin's ``FiringOutcome.status``) as the tracker's status.
STATUSES = {"ok": "passed", "failed": "failed", "skipped": "warning"}


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
        self.now = now
        self.places = places
        self.run_place = run_place
        self.firings = OneRunning(sender, make, now)
        self.began: str | None = None

    def begin(self) -> None:
        self.began = self.now()

    def started(self, key: tuple[int, int]) -> None:
        index = self.places.get(key)
        if index is not None:  # else not listed (beyond the cap)
            self.firings.started(index)

    def finished(self, key: tuple[int, int], outcome: str) -> None:
        index = self.places.get(key)
        if index is not None:
            self.firings.finished(index, STATUSES.get(outcome, "unknown"))

    def end(self, status: str) -> None:
        """The item ended with ``status``: what is left, the firings that never came, the run test.
        Every firing has finished by the item's end; one that has not lost its ending."""
        never = [(index, None, "warning") for index in sorted(self.places.values())]
        self.firings.end([*never, (self.run_place, self.began, status)])

    def interrupt(self) -> tuple[set[int], bool]:
        """The session ends (this item may not have): see ``OneRunning.interrupt``."""
        return self.firings.interrupt()
