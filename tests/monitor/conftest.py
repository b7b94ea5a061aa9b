from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from appliance.lamp.backends import VirtualBackend
from appliance.lamp.driver import LampDriver
from appliance.monitor.monitor import Monitor
from appliance.monitor.publisher import Publisher
from appliance.monitor.sources import Source
from appliance.monitor.sources.http import Http
from appliance.monitor.states import DEFAULT_COLOURS, State
from tests.conftest import free_port, wait_until
from tests.monitor.fakes import FakeService


@pytest.fixture
def fake() -> Iterator[FakeService]:
    service = FakeService().start()
    yield service
    service.stop()


@pytest.fixture
def http() -> Iterator[Http]:
    client = Http()
    yield client
    client.close()


class RecordingLamp(VirtualBackend):
    """The virtual lamp, remembering every key it was sent."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def send(self, key: str) -> None:
        super().send(key)
        self.sent.append(key)


@dataclass
class RunningMonitor:
    monitor: Monitor
    lamp: RecordingLamp

    def source(self, index: int = 0) -> dict:
        return self.monitor.report()["sources"][index]

    def shows(self, state: State, colour: str | None = None) -> None:
        """Wait until the monitor decided ``state`` and the lamp shows its colour."""
        colour = colour or DEFAULT_COLOURS[state]
        wait_until(
            lambda: self.monitor.state is state and self.lamp.key == colour,
            timeout=10,
            what=f"{state} / {colour}, have {self.monitor.state} / {self.lamp.key}: {self.monitor.report()}",
        )


class Clock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# Beyond the span of every test, so that the lamp's re-sends stay out of the keys a test checks.
RESEND_SECONDS = 3600.0


class SteppedMonitor:
    """The monitor of ``sources`` on a clock the test moves: ``at(now)`` is one round of its loop at
    that time, so intervals, ``stale_after``, retries and heartbeats pass without waiting. The
    server is nowhere unless ``server_url`` names one."""

    def __init__(
        self,
        sources: Sequence[Source],
        *,
        clock: Clock | None = None,
        stale_after: float = 60.0,
        colours: dict | None = None,
        server_url: str | None = None,
        token: str = "not-the-token",  # noqa: S107 - a test token for a test server
        heartbeat: float = 60.0,
    ) -> None:
        self.clock = clock or Clock()
        self.lamp = RecordingLamp()
        self.publisher = Publisher(server_url or f"http://127.0.0.1:{free_port()}", token)
        self.monitor = Monitor(
            sources,
            LampDriver([self.lamp], resend_seconds=RESEND_SECONDS, clock=self.clock),
            self.publisher,
            threading.Event(),
            colours=colours or DEFAULT_COLOURS,
            stale_after=stale_after,
            heartbeat=heartbeat,
            clock=self.clock,
        )
        self.sleep: float | None = None  # what the loop would sleep after the last round

    def at(self, now: float) -> tuple[State, str | None]:
        """One round at ``now``: the state the monitor decided and the key the lamp shows."""
        self.clock.now = now
        self.sleep = self.monitor.step()
        return self.monitor.state, self.lamp.key

    def source(self, index: int = 0) -> dict:
        return self.monitor.report()["sources"][index]

    def close(self) -> None:
        self.publisher.close()


@contextmanager
def stepped_monitor(sources: Sequence[Source], **options: Any) -> Iterator[SteppedMonitor]:
    stepped = SteppedMonitor(sources, **options)
    try:
        yield stepped
    finally:
        stepped.close()


@contextmanager
def followed_feed(feed: Any, stale_after: float) -> Iterator[RunningMonitor]:
    """The real monitor loop and an event feed in threads, as ``appliance monitor`` runs them,
    with a recording lamp; the monitor reports to a port where nothing listens."""
    from appliance.monitor.publisher import Publisher
    from tests.harness import free_port

    stop = threading.Event()
    lamp = RecordingLamp()
    publisher = Publisher(f"http://127.0.0.1:{free_port()}", "not-the-token")
    monitor = Monitor(feed.sources, LampDriver([lamp]), publisher, stop, stale_after=stale_after)
    feed.start(monitor.wake)
    thread = threading.Thread(target=monitor.run, name="monitor")
    thread.start()
    try:
        yield RunningMonitor(monitor, lamp)
    finally:
        stop.set()
        thread.join(timeout=10)
        feed.close()
        publisher.close()
    assert not thread.is_alive(), "setting stop must end the monitor's wait at once"
