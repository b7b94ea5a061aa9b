"""Sources fed by the server's event stream instead of polls: the machinery they share.

An ``EventFeed`` is one thread that keeps ``GET /events?topic=...`` open. Each time it connects it
waits until the server has subscribed it (the server subscribes before it answers), reads what it
shows afresh through the server's API (``read_snapshot``, then ``install``), then applies the
events as they come (``apply_event``). The stream's ``Last-Event-ID`` replay is not used: the
server numbers its events from 1 again after a restart and keeps only its last 500 of all topics,
so a replay can miss what a fresh read cannot.

Its sources' ``poll`` only reads what the feed knows (``reading``), never the network. Each change
wakes the monitor at once (``wake``; a source the monitor has not seen yet joins it). A lost stream
is retried with back-off; the sources keep their last state for ``stale_after`` seconds from the
moment it was lost, then show as unreachable (the monitor decides, from ``SourceLost.since``).

A kind of feed says what it reads and how its events change it: ``own_ci.py`` (builds per
repository), ``progress.py`` (test runs per machine).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from appliance.backoff import Backoff
from appliance.client import Client, EventStream, ServerUnavailable, reason_of
from appliance.monitor.sources import Reading, Source, SourceError, SourceLost
from appliance.monitor.states import State

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 45.0  # three of the server's 15 s keep-alives missed: the stream is dead
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 15.0
FIRST_READ_WAIT_SECONDS = 2.0
IDLE_SECONDS = 300.0  # a connected feed needs no re-reads: its events wake the monitor

Wake = Callable[[Source], None]


class FedSource:
    """One tile of a feed; ``poll`` only reads what the feed knows, never the network."""

    kind = "events"

    def __init__(self, feed: EventFeed, name: str):
        self.feed = feed
        self.name = name

    @property
    def interval(self) -> float:
        return self.feed.recheck_in(self.name)

    def poll(self) -> Reading:
        return self.feed.reading(self.name)


class EventFeed:
    """The thread that follows one topic of the server's events for the sources in ``sources``.

    A kind of feed sets ``label`` (its name in the log), ``path`` (the stream, with its topics),
    ``events`` (the event names it applies), ``home`` (its link before the first read), and
    implements ``read_snapshot``, ``install``, ``apply_event`` and ``known_reading``; the last three
    run under the feed's lock. ``clock`` must be the monitor's: ``SourceLost.since`` and
    ``recheck_in`` are times on it.
    """

    label = "events"
    path = "/events"
    events: frozenset[str] = frozenset()
    home = "/"
    thread_name = "event-feed"

    def __init__(
        self,
        server_url: str,
        stale_after: float,
        *,
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        first_retry: float = FIRST_RETRY_SECONDS,
        max_retry: float = MAX_RETRY_SECONDS,
        read_timeout: float = READ_TIMEOUT_SECONDS,
    ):
        self.server_url = server_url.rstrip("/")
        self.events_url = f"{self.server_url}/events"
        self.stale_after = stale_after
        self.clock = clock
        self.first_retry, self.max_retry, self.read_timeout = first_retry, max_retry, read_timeout
        self.sources: list[FedSource] = []  # grows under the lock only
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._tried = threading.Event()  # the first connection has worked or failed
        self._connected = False
        self._error: str | None = None  # why the feed is not connected, once it has tried
        self._lost_at = clock()  # since when it has not been connected
        self._stream: EventStream | None = None  # the one being followed, for close()
        self._thread: threading.Thread | None = None
        # The monitor's token: with [auth] public_status = false, reading takes one.
        self._client = Client(self.server_url, token, timeout=CONNECT_TIMEOUT_SECONDS)

    # --- what a kind of feed says ---------------------------------------------------------------

    def read_snapshot(self) -> Any:
        """Read what the sources show through the server's API (no lock held); raise
        ServerUnavailable or SourceError when it cannot."""
        raise NotImplementedError

    def install(self, snapshot: Any) -> None:
        """Replace what is known by ``snapshot`` (under the lock)."""
        raise NotImplementedError

    def apply_event(self, event: str, value: Any) -> Sequence[FedSource]:
        """Apply one event's JSON (under the lock); return the sources whose reading changed."""
        raise NotImplementedError

    def known_reading(self, name: str) -> Reading:
        """The reading of the source ``name`` while connected (under the lock)."""
        raise NotImplementedError

    def connected_recheck(self, name: str) -> float:
        """Seconds until the source ``name`` needs reading without an event, while connected
        (under the lock): by default never, its events wake it."""
        return IDLE_SECONDS

    # --- what the monitor's thread asks -------------------------------------------------------

    def reading(self, name: str) -> Reading:
        with self._lock:
            if self._connected:
                return self.known_reading(name)
            if self._error is not None:
                raise SourceLost(self._error, since=self._lost_at)
        return Reading(State.UNKNOWN, self.home, f"connecting to {self.events_url}")

    def recheck_in(self, name: str) -> float:
        """Seconds until the source needs reading without an event: when the stream is lost, at the
        moment it turns stale; while connected, when the kind of feed says."""
        with self._lock:
            if self._connected:
                return self.connected_recheck(name)
            if self._error is None:
                return IDLE_SECONDS
            left = self._lost_at + self.stale_after - self.clock()
        return left if left > 0 else IDLE_SECONDS

    # --- the feed's thread ----------------------------------------------------------------------

    def start(self, wake: Wake) -> None:
        """Follow the stream in a thread; ``wake`` gets each source whose reading may have changed.
        Waits a moment for the first connection, so that a starting lamp shows the feed's state
        rather than "no result yet" for an instant."""
        self._thread = threading.Thread(target=self._run, args=(wake,), name=self.thread_name, daemon=True)
        self._thread.start()
        self._tried.wait(FIRST_READ_WAIT_SECONDS)

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            stream = self._stream
        if stream is not None:
            stream.close()  # ends a read blocked on the stream at once
        if self._thread is not None:
            self._thread.join(timeout=CONNECT_TIMEOUT_SECONDS * 2)

    def _run(self, wake: Wake) -> None:
        backoff = Backoff(self.first_retry, self.max_retry)
        while not self._closed.is_set():
            try:
                error = self._follow(wake)
            except Exception as exc:  # a bug here must not stop the lamp: reconnect, with a fresh read
                log.exception("%s: unexpected error following %s", self.label, self.events_url)
                error = f"internal error: {type(exc).__name__}"
            if self._closed.is_set():
                return
            with self._lock:
                was_connected, changed = self._connected, error != self._error
                if was_connected:
                    self._lost_at = self.clock()
                self._connected, self._error = False, error
            self._tried.set()
            if was_connected:
                backoff.reset()
            if changed:
                log.warning("%s: %s (retrying)", self.label, error)
                self._wake_all(wake)
            backoff.wait(self._closed)

    def _follow(self, wake: Wake) -> str:
        """Connect, read afresh, apply the events until the stream ends; returns why it did."""
        stream = self._client.stream(self.path, self.read_timeout, connect_timeout=CONNECT_TIMEOUT_SECONDS)
        with self._lock:
            if self._closed.is_set():
                return "closed"
            self._stream = stream
        try:
            with stream:
                # The server subscribes before it answers: from here on no event is missed.
                return self._snapshot_then_events(stream, wake)
        except ServerUnavailable as exc:
            return str(exc)
        finally:
            with self._lock:
                self._stream = None

    def _snapshot_then_events(self, stream: EventStream, wake: Wake) -> str:
        try:
            snapshot = self.read_snapshot()
        except (ServerUnavailable, SourceError) as exc:
            return str(exc)
        with self._lock:
            self.install(snapshot)
            self._connected, was = True, self._error
            self._error = None
        log.info("%s: following %s%s", self.label, self.events_url, " again" if was else "")
        self._tried.set()
        self._wake_all(wake)
        try:
            for event, data in stream:
                if event in self.events:
                    self._apply(event, json.loads(data), wake)
        except ValueError as exc:
            return f"lost {self.events_url}: {reason_of(exc)}"
        return f"{self.events_url} ended the stream"

    def _apply(self, event: str, value: Any, wake: Wake) -> None:
        with self._lock:
            changed = list(self.apply_event(event, value))
        for source in changed:
            wake(source)

    def _wake_all(self, wake: Wake) -> None:
        with self._lock:
            sources = list(self.sources)
        for source in sources:
            wake(source)
