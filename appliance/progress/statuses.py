"""The test statuses of the seed's test machines, and how a scenario's or a run's status is made
of its tests'. Plain strings and no imports, so that the pages and the monitor can use them."""

from __future__ import annotations

from collections.abc import Iterable

CANCELLED = "cancelled"
RUNNING = "running"
WAITING = "waiting"
UNKNOWN = "unknown"
FAILED = "failed"
ERROR = "error"
WARNING = "warning"
PASSED = "passed"
# Shown, never stored: a run whose machine stopped reporting before it ended.
INTERRUPTED = "interrupted"

# The roll-up: a scenario or run has the first of these that any of its tests has (the seed's order).
PRIORITY = (CANCELLED, RUNNING, WAITING, UNKNOWN, FAILED, ERROR, WARNING, PASSED)
ONGOING = (RUNNING, WAITING)
# What a stop may report: every status but the two a test has before it ends.
RESULTS = tuple(status for status in PRIORITY if status not in ONGOING)


def roll_up(statuses: Iterable[str]) -> str:
    """The first status of ``PRIORITY`` present; ``unknown`` for nothing at all, as the seed said."""
    present = set(statuses)
    return next((status for status in PRIORITY if status in present), UNKNOWN)
