"""The appliance's own CI as status sources: one per ``[[ci.repos]]`` repository, fed by the
server's event stream instead of polls.

One repository, one source: each is a tile on the status page with a link to its build, as
``/cc.xml`` has one project per repository; the lamp shows the worst of them like any other.

One thread (the feed) keeps ``GET /events?topic=ci.build`` open. Each time it connects it waits
until the server has subscribed it, reads every repository's recent builds from
``GET /api/ci/builds``, then applies the events as they come. Nothing falls in between: an event
carries the whole build, and a build only moves forward (queued, running, queued again after a
lost attempt, running again, ended), so an event older than what is known is dropped. The stream's
``Last-Event-ID`` replay is not used: the server numbers its events from 1 again after a restart
and keeps only its last 500 of all topics (log chunks among them), so a replay can miss a build
where a fresh read cannot.

Both reads go through the client of the appliance's programs (``appliance/client.py``), as a
runner's do. Each change wakes the monitor at once. A lost stream is retried with back-off; the
sources keep their last state for ``stale_after`` seconds from the moment it was lost, then show as
unreachable (the monitor decides, from ``SourceLost.since``).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from appliance.backoff import Backoff
from appliance.ci.statuses import ACTIVE, ERROR, FAILED, PASSED, TIMED_OUT
from appliance.client import Client, EventStream, ServerUnavailable, reason_of
from appliance.config import Config
from appliance.monitor.settings import own_ci_repos
from appliance.monitor.sources import (
    Reading,
    Source,
    SourceError,
    SourceLost,
    SourceRefused,
    building_after,
    expect,
)
from appliance.monitor.states import State

log = logging.getLogger(__name__)

# Each of the CI's verdicts as a state (``appliance.ci.statuses`` imports nothing, so the monitor
# stays without SQLAlchemy). A cancelled build says nothing about the code: it never decides.
VERDICT_STATES: dict[str, State] = {
    PASSED: State.SUCCESS,
    FAILED: State.FAILURE,
    TIMED_OUT: State.FAILURE,
    ERROR: State.FAILURE,
}

EVENTS = "/events?topic=ci.build"
RECENT_BUILDS = 100  # read per repository at each connection, and kept (with the active ones)
CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 45.0  # three of the server's 15 s keep-alives missed: the stream is dead
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 15.0
FIRST_READ_WAIT_SECONDS = 2.0
IDLE_SECONDS = 300.0  # a connected feed needs no re-reads: its events wake the monitor


def own_ci_feed(config: Config) -> OwnCIFeed | None:
    """The feed for ``[monitor] own_ci``, when it shows any repository."""
    repos = own_ci_repos(config.monitor, config.ci)
    return OwnCIFeed(config.server_url, repos, config.monitor.stale_after) if repos else None


def progress(build: dict[str, Any]) -> tuple[int, int]:
    """How far a build has gone; it never goes back. Queued for attempt n+1 comes after running
    attempt n (a lost attempt queues the build again), and an end is final."""
    if build["status"] == "queued":
        return build["attempt"] + 1, 0
    if build["status"] == "running":
        return build["attempt"], 1
    return sys.maxsize, 2


def checked_build(value: Any) -> dict[str, Any] | None:
    """A build as the CI's JSON shows it, or None for anything without the fields used here."""
    if not isinstance(value, dict):
        return None
    kinds = {"id": int, "repo": str, "status": str, "attempt": int}
    if all(isinstance(value.get(key), kind) for key, kind in kinds.items()):
        return value
    return None


class RepoBuilds:
    """What is known of one repository's builds: the active ones, the last with a verdict, and the
    newest few, enough to say its state and to drop an event older than what is known."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.builds: dict[int, dict[str, Any]] = {}

    def replace_all(self, builds: Sequence[dict[str, Any]]) -> None:
        self.builds = {}
        for build in builds:
            self.apply(build)

    def apply(self, build: dict[str, Any]) -> None:
        known = self.builds.get(build["id"])
        if known is None or progress(build) >= progress(known):
            self.builds[build["id"]] = build
        if len(self.builds) > RECENT_BUILDS:
            keep = set(sorted(self.builds)[-RECENT_BUILDS:])
            if (verdict := self._verdict()) is not None:
                keep.add(verdict["id"])
            self.builds = {i: b for i, b in self.builds.items() if i in keep or b["status"] in ACTIVE}

    def _verdict(self) -> dict[str, Any] | None:
        """The build that ended last with a verdict, as ``/cc.xml`` picks it."""
        verdicts = [b for b in self.builds.values() if b["status"] in VERDICT_STATES]
        return max(verdicts, key=lambda b: (b.get("finished_at") or "", b["id"]), default=None)

    def reading(self) -> Reading:
        verdict = self._verdict()
        last = VERDICT_STATES[verdict["status"]] if verdict else None
        active = [b for b in self.builds.values() if b["status"] in ACTIVE]
        if active:
            current = max(active, key=lambda b: b["id"])
            after = f"; last result: {verdict['status']}" if verdict else ""
            return Reading(building_after(last), build_page(current), describe(current) + after)
        if verdict is not None and last is not None:
            return Reading(last, build_page(verdict), describe(verdict))
        why = "only cancelled builds" if self.builds else "no build yet"
        return Reading(State.UNKNOWN, "/ci", f"no result yet ({why})")


def build_page(build: dict[str, Any]) -> str:
    # Relative: the status page is served by the same server, whatever address a browser uses.
    return f"/ci/builds/{build['id']}"


def describe(build: dict[str, Any]) -> str:
    commit = f" {build['short_commit']}" if build.get("short_commit") else ""
    return f"build #{build['id']}{commit}: {build['status']}"


class OwnCISource:
    """One repository of the feed; ``poll`` only reads what the feed knows, never the network."""

    kind = "own_ci"

    def __init__(self, feed: OwnCIFeed, repo: str):
        self.feed = feed
        self.name = repo

    @property
    def interval(self) -> float:
        return self.feed.recheck_in()

    def poll(self) -> Reading:
        return self.feed.reading(self.name)


class OwnCIFeed:
    """The thread that follows the server's ``ci.build`` events for the sources in ``sources``.

    ``clock`` must be the monitor's: ``SourceLost.since`` and ``recheck_in`` are times on it.
    """

    def __init__(
        self,
        server_url: str,
        repos: Sequence[str],
        stale_after: float,
        *,
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
        self.sources = [OwnCISource(self, repo) for repo in repos]
        self._repos = {repo: RepoBuilds(repo) for repo in repos}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._tried = threading.Event()  # the first connection has worked or failed
        self._connected = False
        self._error: str | None = None  # why the feed is not connected, once it has tried
        self._lost_at = clock()  # since when it has not been connected
        self._stream: EventStream | None = None  # the one being followed, for close()
        self._thread: threading.Thread | None = None
        self._client = Client(self.server_url, None, timeout=CONNECT_TIMEOUT_SECONDS)

    # --- what the monitor's thread asks -------------------------------------------------------

    def reading(self, repo: str) -> Reading:
        with self._lock:
            if self._connected:
                return self._repos[repo].reading()
            if self._error is not None:
                raise SourceLost(self._error, since=self._lost_at)
        return Reading(State.UNKNOWN, "/ci", f"connecting to {self.events_url}")

    def recheck_in(self) -> float:
        """Seconds until the sources need reading without an event: only when the stream is lost,
        at the moment they turn stale."""
        with self._lock:
            if self._connected or self._error is None:
                return IDLE_SECONDS
            left = self._lost_at + self.stale_after - self.clock()
        return left if left > 0 else IDLE_SECONDS

    # --- the feed's thread ----------------------------------------------------------------------

    def start(self, wake: Callable[[Source], None]) -> None:
        """Follow the stream in a thread; ``wake`` gets each source whose reading may have changed.
        Waits a moment for the first connection, so that a starting lamp shows the CI's state
        rather than "no result yet" for an instant."""
        self._thread = threading.Thread(target=self._run, args=(wake,), name="own-ci-feed", daemon=True)
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

    def _run(self, wake: Callable[[Source], None]) -> None:
        backoff = Backoff(self.first_retry, self.max_retry)
        while not self._closed.is_set():
            try:
                error = self._follow(wake)
            except Exception as exc:  # a bug here must not stop the lamp: reconnect, with a fresh read
                log.exception("own CI: unexpected error following %s", self.events_url)
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
                log.warning("own CI: %s (retrying)", error)
                self._wake_all(wake)
            backoff.wait(self._closed)

    def _follow(self, wake: Callable[[Source], None]) -> str:
        """Connect, read the builds, apply the events until the stream ends; returns why it did."""
        stream = self._client.stream(EVENTS, self.read_timeout, connect_timeout=CONNECT_TIMEOUT_SECONDS)
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

    def _snapshot_then_events(self, stream: EventStream, wake: Callable[[Source], None]) -> str:
        try:
            recent = {repo: self._recent_builds(repo) for repo in self._repos}
        except (ServerUnavailable, SourceError) as exc:
            return str(exc)
        with self._lock:
            for repo, builds in recent.items():
                self._repos[repo].replace_all(builds)
            self._connected, was = True, self._error
            self._error = None
        log.info("own CI: following %s%s", self.events_url, " again" if was else "")
        self._tried.set()
        self._wake_all(wake)
        try:
            for event, data in stream:
                if event == "ci.build":
                    self._apply(checked_build(json.loads(data)), wake)
        except ValueError as exc:
            return f"lost {self.events_url}: {reason_of(exc)}"
        return f"{self.events_url} ended the stream"

    def _recent_builds(self, repo: str) -> list[dict[str, Any]]:
        path = "/api/ci/builds?" + urlencode({"repo": repo, "limit": RECENT_BUILDS})
        answer = self._client.call("GET", path)
        if answer.status != 200:
            raise SourceRefused(answer.summary(f"{self.server_url}/api/ci/builds"))
        builds = expect(answer.body, "builds", list, "/api/ci/builds")
        return [build for build in map(checked_build, builds) if build is not None]

    def _apply(self, build: dict[str, Any] | None, wake: Callable[[Source], None]) -> None:
        if build is None or build["repo"] not in self._repos:
            return
        repo = self._repos[build["repo"]]
        with self._lock:
            before = repo.reading()
            repo.apply(build)
            changed = repo.reading() != before
        if changed:
            wake(next(source for source in self.sources if source.name == repo.name))

    def _wake_all(self, wake: Callable[[Source], None]) -> None:
        for source in self.sources:
            wake(source)
