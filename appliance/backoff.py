"""The one back-off: waits that double from a first to a longest, for whatever a program retries
while what it needs is away (the server, the own CI's event stream, a lamp backend)."""

from __future__ import annotations

import random
import threading


class Backoff:
    """Waits that double from ``initial`` to ``maximum``, back to ``initial`` on ``reset``.

    ``jitter`` spreads each wait over ±20 %, so that the many clients of a restarted server (the
    runners, the observer) do not all come back in the same instant; a program waiting for its own
    device or stream waits exactly, as its tests count on."""

    def __init__(self, initial: float, maximum: float, *, jitter: bool = False):
        self.initial = initial
        self.maximum = maximum
        self.jitter = jitter
        self._next = initial

    def next_delay(self) -> float:
        delay = self._next
        if self.jitter:
            delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography
        self._next = min(self.maximum, self._next * 2)
        return delay

    def wait(self, stop: threading.Event) -> bool:
        """Sleep the next delay; True if ``stop`` was set meanwhile."""
        return stop.wait(self.next_delay())

    def reset(self) -> None:
        self._next = self.initial
