"""A deadline timer: one thread that sleeps until the next deadline comes, then acts on every one
that has come (the CI ends expired leases; the progress tracker announces runs gone silent). It
starts when first needed and is woken whenever an earlier deadline may have appeared, so it never
sleeps past one; nothing polls."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

STOP_SECONDS = 5.0


class DeadlineTimer:
    """``act()`` handles every deadline that has come; ``next_due()`` is when the next one comes
    (on ``clock``), or None when there is none."""

    def __init__(
        self,
        name: str,
        act: Callable[[], object],
        next_due: Callable[[], float | None],
        clock: Callable[[], float],
    ):
        self.name = name
        self._act = act
        self._next_due = next_due
        self._clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def ensure(self) -> None:
        """Be running, and look again at when the next deadline comes (an earlier one may exist)."""
        with self._lock:
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
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
                self._act()
                following = self._next_due()
            except Exception:
                log.exception("%s failed; trying again in a second", self.name)
                following = self._clock() + 1
            timeout = None if following is None else max(0.0, following - self._clock()) + 0.01
            self._wake.wait(timeout)
