"""Keeps the lamp showing the key the monitor chose, whatever happens to lircd or to the lamp.

The seed sent a colour only when it changed, so a lamp that was power-cycled or missed a frame
stayed wrong until the next change. The driver sends ON before the first colour, re-sends the
current colour every ``resend_seconds``, and retries a failing backend with exponential back-off
(1 s doubling to 60 s), sending the current colour as soon as it works again. Each backend is
tracked on its own: one failing never stops the others. Nothing here raises out of ``show`` or
``tick``; failures are logged and shown by ``status()``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from appliance.backoff import Backoff
from appliance.lamp.backends import Backend, LampError

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0
# Keys that must not be preceded by ON: ON itself, and OFF (ON then OFF would flash the lamp).
NO_ON_BEFORE = ("ON", "OFF")


@dataclass
class _BackendState:
    backend: Backend
    shown: str | None = None  # the key it was last sent successfully
    sent_at: float | None = None  # clock time of that send
    error: str | None = None  # why the last attempt failed; None when it worked
    retry_at: float | None = None  # clock time of the next attempt while failing
    backoff: Backoff = field(default_factory=lambda: Backoff(FIRST_RETRY_SECONDS, MAX_RETRY_SECONDS))


class LampDriver:
    """Drives every backend towards the key given to ``show``; the monitor calls ``tick`` when
    ``next_due`` says, so an idle appliance sleeps instead of polling."""

    def __init__(
        self,
        backends: Sequence[Backend],
        resend_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.resend_seconds = resend_seconds
        self._states = [_BackendState(backend) for backend in backends]
        self._clock = clock
        self._key: str | None = None
        self._sent_at_wall: datetime | None = None
        self._lock = threading.Lock()

    def show(self, key: str) -> None:
        """Make the lamp show ``key``; sends only to backends that do not show it already."""
        with self._lock:
            self._key = key
            self._send_due(self._clock())

    def tick(self) -> None:
        """Perform the re-sends and retries that are due."""
        with self._lock:
            self._send_due(self._clock())

    def next_due(self, now: float) -> float | None:
        """Seconds from ``now`` (a time of the driver's clock) until ``tick`` has something to
        do; None when nothing will ever be due without a ``show``."""
        with self._lock:
            if self._key is None or not self._states:
                return None
            return max(0.0, min(self._due_in(state, now) for state in self._states))

    def status(self) -> dict[str, Any]:
        """The key, when it was last sent (wall clock, ISO 8601) and each backend's health."""
        with self._lock:
            return {
                "key": self._key,
                "sent_at": self._sent_at_wall.isoformat(timespec="seconds") if self._sent_at_wall else None,
                "resend_seconds": self.resend_seconds,
                "backends": [
                    {
                        "name": state.backend.name,
                        "ok": state.error is None,
                        "error": state.error,
                        "detail": state.backend.describe(),
                    }
                    for state in self._states
                ],
            }

    def _due_in(self, state: _BackendState, now: float) -> float:
        if state.retry_at is not None:
            return state.retry_at - now
        if state.sent_at is None or state.shown != self._key:
            return 0.0
        return state.sent_at + self.resend_seconds - now

    def _send_due(self, now: float) -> None:
        if self._key is None:
            return
        for state in self._states:
            if self._due_in(state, now) <= 0:
                self._send(state, now)

    def _send(self, state: _BackendState, now: float) -> None:
        # ON first whenever the lamp may have forgotten: at start, on a re-send, after a failure.
        # A plain change of colour on a working lamp is the key alone.
        refresh = state.sent_at is None or state.shown == self._key or state.error is not None
        keys = ["ON", self._key] if refresh and self._key not in NO_ON_BEFORE else [self._key]
        try:
            for key in keys:
                state.backend.send(key)
        except LampError as exc:
            self._failed(state, now, str(exc))
            return
        if state.error is not None:
            log.info("lamp backend %s works again; sent %s", state.backend.name, " ".join(keys))
        state.shown, state.sent_at = self._key, now
        state.error, state.retry_at = None, None
        state.backoff.reset()
        self._sent_at_wall = datetime.now(UTC)

    def _failed(self, state: _BackendState, now: float, error: str) -> None:
        delay = state.backoff.next_delay()
        state.error, state.retry_at = error, now + delay
        log.warning("lamp backend %s: %s (next try in %g s)", state.backend.name, error, delay)
