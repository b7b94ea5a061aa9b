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
runner's do. The following, reconnecting and staleness are every event-fed source's
(``sources/feed.py``): each change wakes the monitor at once; a lost stream is retried with
back-off; the sources keep their last state for ``stale_after`` seconds from the moment it was
lost, then show as unreachable (the monitor decides, from ``SourceLost.since``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from appliance.auth import role_token
from appliance.ci.statuses import ACTIVE, ERROR, FAILED, PASSED, TIMED_OUT
from appliance.config import Config
from appliance.monitor.settings import own_ci_repos
from appliance.monitor.sources import Reading, SourceRefused, building_after, expect
from appliance.monitor.sources.feed import (
    IDLE_SECONDS as IDLE_SECONDS,  # what the own CI's tests wait on
)
from appliance.monitor.sources.feed import EventFeed, FedSource
from appliance.monitor.states import State

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


def own_ci_feed(config: Config) -> OwnCIFeed | None:
    """The feed for ``[monitor] own_ci``, when it shows any repository."""
    repos = own_ci_repos(config.monitor, config.ci)
    if not repos:
        return None
    token = role_token(config, "monitor")
    return OwnCIFeed(config.server_url, repos, config.monitor.stale_after, token=token)


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


class OwnCISource(FedSource):
    """One repository of the feed; ``poll`` only reads what the feed knows, never the network."""

    kind = "own_ci"


class OwnCIFeed(EventFeed):
    """The thread that follows the server's ``ci.build`` events for the sources in ``sources``.

    ``clock`` must be the monitor's: ``SourceLost.since`` and ``recheck_in`` are times on it.
    """

    label = "own CI"
    path = EVENTS
    events = frozenset({"ci.build"})
    home = "/ci"
    thread_name = "own-ci-feed"

    def __init__(
        self,
        server_url: str,
        repos: Sequence[str],
        stale_after: float,
        **timing: Any,
    ):
        """``timing``: the feed's token, clock and waits, as ``EventFeed`` takes them."""
        super().__init__(server_url, stale_after, **timing)
        self.sources = [OwnCISource(self, repo) for repo in repos]
        self._repos = {repo: RepoBuilds(repo) for repo in repos}

    def read_snapshot(self) -> dict[str, list[dict[str, Any]]]:
        return {repo: self._recent_builds(repo) for repo in self._repos}

    def install(self, snapshot: dict[str, list[dict[str, Any]]]) -> None:
        for repo, builds in snapshot.items():
            self._repos[repo].replace_all(builds)

    def known_reading(self, name: str) -> Reading:
        return self._repos[name].reading()

    def apply_event(self, event: str, value: Any) -> list[FedSource]:
        build = checked_build(value)
        if build is None or build["repo"] not in self._repos:
            return []
        repo = self._repos[build["repo"]]
        before = repo.reading()
        repo.apply(build)
        if repo.reading() == before:
            return []
        return [source for source in self.sources if source.name == repo.name]

    def _recent_builds(self, repo: str) -> list[dict[str, Any]]:
        path = "/api/ci/builds?" + urlencode({"repo": repo, "limit": RECENT_BUILDS})
        answer = self._client.call("GET", path)
        if answer.status != 200:
            raise SourceRefused(answer.summary(f"{self.server_url}/api/ci/builds"))
        builds = expect(answer.body, "builds", list, "/api/ci/builds")
        return [build for build in map(checked_build, builds) if build is not None]
