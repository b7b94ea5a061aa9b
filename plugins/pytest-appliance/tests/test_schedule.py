"""The schedule on a clock the test drives, so timing is checked without waiting on the wall clock."""

import threading

import pytest

from pytest_appliance.orchestration.description import EventSpec
from pytest_appliance.orchestration.firings import FAILED, OK, SKIPPED, FiringPlan
from pytest_appliance.orchestration.schedule import Run


class SteppedClock:
    """Time passes only when the run waits: each wait jumps to its deadline plus a ``lag``.

    Before time moves, the events fired so far finish (``settle``), so a quick event never
    overlaps its next firing by accident of thread scheduling.
    """

    def __init__(self, lag=0.0, settle=True):
        self.time = 1000.0
        self.lag = lag
        self.settle = settle

    def now(self):
        return self.time

    def wait(self, switch, seconds):
        if self.settle:
            for thread in threading.enumerate():
                if thread.name.startswith("orchestration-"):
                    thread.join()
        if not switch.is_set():
            self.time += seconds + self.lag
        return switch.is_set()


def recorder(clock, calls, name):
    return lambda: calls.append((name, clock.now()))


def test_interval_events_fire_at_start_plus_k_intervals_without_drift():
    clock, calls = SteppedClock(lag=0.004), []
    spec = EventSpec("tick", interval=1.0)
    outcome = Run([(spec, recorder(clock, calls, "tick"))], 10, threading.Event(), clock)()
    # Each wake is 4 ms late, yet the k-th firing is due at start + k, not k·4 ms later.
    assert [round(at - 1000, 3) for _, at in calls] == [0.0] + [round(k + 0.004, 3) for k in range(1, 10)]
    assert outcome.stats["tick"].runs == 10
    assert max(outcome.stats["tick"].jitter) < 0.0041


def test_the_run_ends_at_its_duration_then_runs_teardown_events_once_with_the_switch_set():
    clock, calls, switch = SteppedClock(), [], threading.Event()
    events = [
        (EventSpec("start", at_startup=True), recorder(clock, calls, "start")),
        (EventSpec("every3", interval=3, at_startup=False), recorder(clock, calls, "every3")),
        (
            EventSpec("report", at_startup=False, at_teardown=True),
            lambda: calls.append(("report", switch.is_set())),
        ),
    ]
    outcome = Run(events, 10, switch, clock)()
    assert [name for name, _ in calls] == ["start", "every3", "every3", "every3", "report"]
    assert calls[-1] == ("report", True)
    assert clock.now() == 1010
    assert outcome.killed_at is None


def test_setting_the_kill_switch_ends_the_run_at_once_and_says_when():
    clock, switch = SteppedClock(), threading.Event()

    def abort():
        if clock.now() - 1000 >= 2:
            switch.set()

    outcome = Run([(EventSpec("abort", interval=0.5), abort)], 3600, switch, clock)()
    assert outcome.killed_at is not None and 2 <= outcome.killed_at <= 2.5


class ReleasingClock(SteppedClock):
    """Holds the events' first run until the schedule has ended, so every later firing overlaps it."""

    def __init__(self):
        super().__init__(settle=False)
        self.release = threading.Event()

    def wait(self, switch, seconds):
        stopped = super().wait(switch, seconds)
        if self.now() >= 1003:
            self.release.set()
        return stopped


@pytest.mark.parametrize(
    ("overlap", "runs", "skipped"), [("skip", 1, 2), ("queue", 3, 0), ("parallel", 3, 0)]
)
def test_an_event_still_running_when_it_is_due_again_is_skipped_queued_or_run_in_parallel(
    overlap, runs, skipped
):
    clock, started = ReleasingClock(), []

    def slow():
        started.append(1)
        if overlap != "queue" or len(started) == 1:
            clock.release.wait()

    outcome = Run([(EventSpec("slow", interval=1, overlap=overlap), slow)], 3, threading.Event(), clock)()
    assert (outcome.stats["slow"].runs, outcome.stats["slow"].skipped_overlaps) == (runs, skipped)


def test_an_exception_in_an_event_is_recorded_with_its_event_time_and_traceback():
    clock = SteppedClock()

    def broken():
        raise RuntimeError("camera lost")

    outcome = Run([(EventSpec("broken", interval=2), broken)], 5, threading.Event(), clock)()
    assert [(error.event, error.at) for error in outcome.errors] == [
        ("broken", 0),
        ("broken", 2),
        ("broken", 4),
    ]
    assert "RuntimeError: camera lost" in outcome.errors[0].traceback
    assert outcome.stats["broken"].failures == 3


class Recording:
    """An observer keeping what it hears, from whichever thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.heard = []

    def started(self, firing):
        with self.lock:
            self.heard.append(("started", firing, None))

    def finished(self, firing, outcome):
        with self.lock:
            self.heard.append(("finished", firing, outcome))


def test_the_plan_made_ahead_lists_every_firing_the_run_makes_in_time_order():
    clock, observer, switch = SteppedClock(), Recording(), threading.Event()
    specs = [
        EventSpec("tick", interval=0.1),
        EventSpec("boot"),
        EventSpec("every3", interval=0.3, at_startup=False),
        EventSpec("report", at_startup=False, at_teardown=True),
    ]
    plan = FiringPlan(specs, 1.0)
    Run([(spec, lambda: None) for spec in specs], 1.0, switch, clock, observer)()
    started = [firing for what, firing, _ in observer.heard if what == "started"]
    # The same firings (0.1 * 10 is not before the end, whatever floats say), each once; events
    # fire in their own threads, so the order they are heard in is not the plan's time order.
    assert sorted(started, key=lambda firing: firing.key) == sorted(plan, key=lambda firing: firing.key)
    assert [firing.offset for firing in plan][:-1] == sorted(
        firing.offset for firing in plan if firing.offset is not None
    )
    assert len(plan) == 10 + 1 + 3 + 1
    assert [firing.name for firing in list(plan)[:4]] == [
        "tick #1 (+0 s)",
        "boot (startup)",
        "tick #2 (+0.1 s)",
        "tick #3 (+0.2 s)",
    ]
    assert started[-1].name == list(plan)[-1].name == "report (teardown)"
    assert {outcome.status for what, _, outcome in observer.heard if what == "finished"} == {OK}


def finished(observer):
    return {firing.name: outcome for what, firing, outcome in observer.heard if what == "finished"}


def test_the_observer_hears_skips_and_failures():
    clock, observer = ReleasingClock(), Recording()

    def failing():
        raise RuntimeError("no camera")

    events = [
        (EventSpec("slow", interval=1), clock.release.wait),
        (EventSpec("failing", at_startup=False, at_teardown=True), failing),
    ]
    Run(events, 3, threading.Event(), clock, observer)()
    outcomes = finished(observer)
    assert {name: outcome.status for name, outcome in outcomes.items()} == {
        "slow #1 (+0 s)": OK,
        "slow #2 (+1 s)": SKIPPED,
        "slow #3 (+2 s)": SKIPPED,
        "failing (teardown)": FAILED,
    }
    assert repr(outcomes["failing (teardown)"].error) == "RuntimeError('no camera')"
    started = [firing.name for what, firing, _ in observer.heard if what == "started"]
    assert started == ["slow #1 (+0 s)", "failing (teardown)"]  # a skipped firing never starts


def test_a_firing_that_sets_the_kill_switch_failed():
    clock, observer, switch = SteppedClock(), Recording(), threading.Event()
    events = [
        (EventSpec("tick", interval=1), lambda: None),
        (EventSpec("killing", interval=2.5, at_startup=False), switch.set),
    ]
    outcome = Run(events, 10, switch, clock, observer)()
    assert outcome.killed_at == 2.5
    outcomes = finished(observer)
    assert [name for name, outcome in outcomes.items() if outcome.status == FAILED] == ["killing #1 (+2.5 s)"]
    assert outcomes["killing #1 (+2.5 s)"].killed and outcomes["killing #1 (+2.5 s)"].error is None
    assert len(outcomes) == 3 + 1  # tick at 0, 1 and 2; killing at 2.5


def test_an_observer_that_raises_fails_the_run_and_stops_nothing():
    class Broken:
        def started(self, firing):
            raise RuntimeError("observer broke")

        def finished(self, firing, outcome):
            pass

    calls = []
    outcome = Run(
        [(EventSpec("tick", interval=1), lambda: calls.append(1))],
        3,
        threading.Event(),
        SteppedClock(),
        Broken(),
    )()
    assert len(calls) == 3
    assert [error.event for error in outcome.errors] == [
        "the observer of tick #1 (+0 s)",
        "the observer of tick #2 (+1 s)",
        "the observer of tick #3 (+2 s)",
    ]
    assert "observer broke" in outcome.errors[0].traceback
