"""The CI's build and attempt statuses: the one vocabulary of the store, the read model, the
runner protocol and the monitor's own-CI source. Plain strings and no imports, so that the monitor,
which does without SQLAlchemy, can use it.

A build is queued, then running, then ends with one of ``RESULTS``; a lost attempt puts it back in
the queue. An attempt runs, then ends with one of ``RESULTS`` or is ``LOST``.
"""

from __future__ import annotations

QUEUED = "queued"
RUNNING = "running"
PASSED = "passed"
FAILED = "failed"
ERROR = "error"
CANCELLED = "cancelled"
TIMED_OUT = "timed_out"
LOST = "lost"  # an attempt only: its runner stopped renewing the lease

ACTIVE = (QUEUED, RUNNING)
RESULTS = (PASSED, FAILED, ERROR, CANCELLED, TIMED_OUT)
# A cancelled build says nothing about the code, so it never decides a repository's colour.
VERDICTS = (PASSED, FAILED, ERROR, TIMED_OUT)

# A runner is busy while it holds an attempt, and shown offline once silent for a lease's length.
IDLE = "idle"
BUSY = "busy"
OFFLINE = "offline"
