"""Announces each run the moment it turns ``interrupted``: its machine has sent nothing for
``[progress] interrupted_after`` seconds. The status itself is decided on read (``views.py``);
this only publishes the run's ``progress.run`` when the line is crossed, so that open pages and
the monitor see it without asking. One timer thread sleeps until the next run would cross; a dry
run wakes it (a new run may cross first), and so does a report while it waits for nothing (every
run had crossed); otherwise a report only moves a crossing later."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import bindparam, func, select

from appliance.db import Database
from appliance.deadlines import DeadlineTimer
from appliance.events import EventBus
from appliance.progress.schema import runs
from appliance.progress.statuses import INTERRUPTED
from appliance.progress.views import Views

# Runs whose last report is in (since, until]: those that crossed since the last look.
_CROSSED = select(runs.c.id).where(
    runs.c.last_report_at > bindparam("since"), runs.c.last_report_at <= bindparam("until")
)
_NEXT = select(func.min(runs.c.last_report_at)).where(runs.c.last_report_at > bindparam("since"))


class Interruptions:
    def __init__(self, db: Database, bus: EventBus, views: Views, clock: Callable[[], float]):
        self.db = db
        self.bus = bus
        self.views = views
        self.clock = clock
        # Runs silent since before the server started are not announced: a page shows them on load.
        self._since = clock() - views.interrupted_after
        self._lock = threading.Lock()  # a report's check against the timer's look at the runs
        self._due: float | None = None
        self.timer = DeadlineTimer("progress-interruptions", self._announce, self._next_crossing, clock)

    def watch(self) -> None:
        """Start (or wake) the timer: a new run, or the server's start."""
        self.timer.ensure()

    def reported(self) -> None:
        """A report was committed: it may start a silence the timer is not waiting for."""
        with self._lock:
            idle = self._due is None
        if idle:
            self.timer.ensure()

    def stop(self) -> None:
        self.timer.stop()

    def _announce(self) -> None:
        until = self.clock() - self.views.interrupted_after
        with self.db.read() as conn:
            crossed = conn.execute(_CROSSED, {"since": self._since, "until": until}).scalars().all()
            summaries = [self.views.run_summary(conn, run_id) for run_id in crossed]
        self._since = until
        for summary in summaries:
            if summary["status"] == INTERRUPTED:  # a finished run's silence means nothing
                self.bus.publish("progress.run", summary)

    def _next_crossing(self) -> float | None:
        # Under the lock: a report committed after this read finds ``_due`` None and wakes us.
        with self._lock, self.db.read() as conn:
            earliest = conn.execute(_NEXT, {"since": self._since}).scalar()
            self._due = None if earliest is None else earliest + self.views.interrupted_after
            return self._due
