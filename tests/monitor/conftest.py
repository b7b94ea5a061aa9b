from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

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


@contextmanager
def running_monitor(
    sources: Sequence[Source],
    *,
    stale_after: float = 0.3,
    colours: dict | None = None,
    server_url: str | None = None,
    token: str = "not-the-token",  # noqa: S107 - a test token for a test server
    heartbeat: float = 60.0,
) -> Iterator[RunningMonitor]:
    """The real monitor loop in a thread, driving the virtual lamp; the server is nowhere unless
    ``server_url`` names one."""
    stop = threading.Event()
    lamp = RecordingLamp()
    publisher = Publisher(server_url or f"http://127.0.0.1:{free_port()}", token)
    monitor = Monitor(
        sources,
        LampDriver([lamp], resend_seconds=300),
        publisher,
        stop,
        colours=colours or DEFAULT_COLOURS,
        stale_after=stale_after,
        heartbeat=heartbeat,
    )
    thread = threading.Thread(target=monitor.run, name="monitor")
    thread.start()
    try:
        yield RunningMonitor(monitor, lamp)
    finally:
        stop.set()
        thread.join(timeout=10)
        publisher.close()
