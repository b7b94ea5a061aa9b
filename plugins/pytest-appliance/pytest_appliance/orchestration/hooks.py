"""Hooks other plugins implement to follow orchestrated runs.

An orchestrated run is one item. Its ``FiringPlan`` (``firings.py``) lists ahead, in time order,
every ``Firing`` the run makes unless the kill switch ends it early; the firing hooks then name
the same firings (equal objects, same ``key`` and ``name``) as they start and finish.

The firing hooks are called from the thread making the firing: an event's own thread (several
may call at once, with overlap ``queue`` or ``parallel`` or two events due together), or the
thread running the item for a skipped firing and for the teardown firings. An implementation
must be thread-safe and quick, as it delays its firing's call (never the schedule); one that
raises is an error of the run, which fails it. Mark an implementation ``optionalhook=True`` if
the orchestration plugin may be absent (``-p no:orchestration``).
"""

import pytest


@pytest.hookspec(firstresult=True)
def pytest_orchestration_plan(item):
    """The ``FiringPlan`` of ``item`` if it is an orchestrated run, else None; known from the
    collection on (the plan of its description and duration, after ``--runtime-orch``)."""


def pytest_orchestration_firing_started(item, firing):
    """``firing`` (a ``Firing``) of the orchestrated run ``item`` is about to call its event."""


def pytest_orchestration_firing_finished(item, firing, outcome):
    """``firing`` ended; ``outcome`` is a ``FiringOutcome``: ``status`` ``"ok"``; ``"failed"``
    when it raised (``error``) or the kill switch was set while it ran (``killed``, which ends
    the run early); or ``"skipped"``, due while its event's last firing still ran with overlap
    ``skip``, never called and never ``started``."""


def pytest_orchestration_finished(item, outcome):
    """An orchestrated run ended; ``outcome`` holds its errors and each event's statistics.
    Called from the thread running the item, after every firing has finished."""
