"""The lease timer: one thread in the server that sleeps until the next lease ends, then ends the
expired ones. It starts with the first lease (an idle server has none) and is woken whenever a
lease begins, so it never sleeps past one; nothing polls."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

STOP_SECONDS = 5.0


class LeaseTimer:
    def __init__(
        self,
        expire: Callable[[], object],
        next_expiry: Callable[[], float | None],
        clock: Callable[[], float],
    ):
        self._expire = expire
        self._next_expiry = next_expiry
        self._clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def ensure(self) -> None:
        """Be running, and look again at when the next lease ends (one may have begun)."""
        with self._lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="ci-leases", daemon=True)
                self.thread.start()
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self.thread is not None:
            self.thread.join(timeout=STOP_SECONDS)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                self._expire()
                following = self._next_expiry()
            except Exception:
                log.exception("checking CI leases failed; trying again in a second")
                following = self._clock() + 1
            timeout = None if following is None else max(0.0, following - self._clock()) + 0.01
            self._wake.wait(timeout)
