"""The dispatcher: the CI's queue, owned by the server (as the Buildbot master and the Woodpecker
server own theirs). Runners pull: a request for work is held open until a build is queued (a
condition woken on enqueue, no polling) or the wait ends. A claimed build is leased; runners renew
the lease by heartbeat, and a timer thread that sleeps until the next lease ends gives lost work
back to the queue (a ``DeadlineTimer``). Every change is published on the event bus for live
pages, once the store's transaction for it has committed (a change rolled back raises before
anything is published). The state itself is the store's (``store.py`` and its parts).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

from appliance.ci.environment import work_env
from appliance.ci.errors import NotFound
from appliance.ci.leases import Held
from appliance.ci.queue import CommitSpec
from appliance.ci.repos import RepoSpec
from appliance.ci.results import Result
from appliance.ci.settings import CIConfig
from appliance.ci.store import CIStore, Policy
from appliance.ci.views import Views
from appliance.db import Database
from appliance.deadlines import DeadlineTimer
from appliance.events import EventBus

_DEFAULT = CIConfig()


@dataclass(frozen=True)
class Settings:
    """What the dispatcher uses of ``[ci]``; the defaults are ``CIConfig``'s."""

    max_attempts: int = _DEFAULT.max_attempts
    lease_seconds: float = _DEFAULT.lease_seconds
    wait_seconds: float = _DEFAULT.wait_seconds
    timeout_seconds: float = _DEFAULT.timeout_seconds
    silence_seconds: float = _DEFAULT.silence_seconds
    kill_grace_seconds: float = _DEFAULT.kill_grace_seconds
    max_log_bytes: int = _DEFAULT.max_log_bytes
    repo_env: dict[str, dict[str, str]] = field(default_factory=dict)  # repository name: its `env`

    @classmethod
    def from_config(cls, ci: CIConfig) -> Settings:
        same = {f.name: getattr(ci, f.name) for f in fields(cls) if f.name != "repo_env"}
        return cls(**same, repo_env={repo.name: repo.env for repo in ci.repos})

    @property
    def policy(self) -> Policy:
        return Policy(
            max_attempts=self.max_attempts, lease_seconds=self.lease_seconds, max_log_bytes=self.max_log_bytes
        )

    @property
    def heartbeat_seconds(self) -> float:
        # Two heartbeats may be lost before the lease ends (Woodpecker: 20 s of a 1 min lease).
        return self.lease_seconds / 3


class TooManyWaiting(Exception):
    """More runners wait for work than the server has threads to hold them: come back later."""


class Disconnection(Protocol):
    """Whether a runner's request is still open (``appliance.web.server.Disconnection``)."""

    def is_set(self) -> bool: ...

    def on_set(self, callback: Callable[[], None]) -> None: ...


class Dispatcher:
    def __init__(
        self,
        db: Database,
        bus: EventBus,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        max_waiting: int = 8,
    ):
        self.settings = settings
        self.store = CIStore(db, settings.policy)
        self.bus = bus
        self.clock = clock
        self._work = threading.Condition()
        self._generation = 0  # bumped on every enqueue, so a waiter never misses one
        self._waiting = 0
        # Each waiting runner holds one of the server's request threads: at most this many.
        self.max_waiting = max_waiting
        self._stopping = threading.Event()
        self.lease_timer = DeadlineTimer("ci-leases", self.expire_leases, self.store.next_lease_expiry, clock)

    @property
    def views(self) -> Views:
        """The read model: what the pages, the API (logs too) and ``/cc.xml`` show."""
        return self.store.views

    def runners(self) -> list[dict[str, Any]]:
        """Every registered runner as the pages show it, now."""
        return self.store.runner_list(self.clock())

    # --- life cycle -----------------------------------------------------------------------------

    def start(self, repos: Iterable[RepoSpec]) -> None:
        """At server start: the configured repositories become the only ones (the queued builds of
        any other are cancelled), and running builds get a full lease, since their runners could
        not reach a server that was not there."""
        now = self.clock()
        self.store.sync_repos(repos, now)
        self.store.grant_grace(now)
        if self.store.next_lease_expiry() is not None:
            self.lease_timer.ensure()

    def stop(self) -> None:
        self._stopping.set()
        self._wake_runners()
        self.lease_timer.stop()

    def expire_leases(self) -> list[int]:
        changed = self.store.expire_leases(self.clock())
        if changed:
            self._publish_builds(changed)
            self._wake_runners()
        return changed

    # --- runners --------------------------------------------------------------------------------

    def register(self, name: str, labels: list[str], capacity: int, held: Held) -> dict[str, Any]:
        lost = self.store.register_runner(name, labels, capacity, held, self.clock())
        if lost:
            self._publish_builds(lost)
            self._wake_runners()
        self._publish_runner(name)
        return {
            "lease_seconds": self.settings.lease_seconds,
            "heartbeat_seconds": self.settings.heartbeat_seconds,
            "wait_seconds": self.settings.wait_seconds,
        }

    def next(self, runner: str, wait: float, gone: Disconnection | None = None) -> dict[str, Any] | None:
        """Lease the next build to ``runner``, waiting up to ``wait`` seconds for one, unless the
        runner's request closes meanwhile (``gone``): nothing is claimed for a runner that left."""
        if not self.store.runner_known(runner):
            raise NotFound(f"runner {runner} is not registered")
        with self._work:
            if self._waiting >= self.max_waiting:
                raise TooManyWaiting(f"{self._waiting} runners are already waiting for work")
            self._waiting += 1
        try:
            if gone is not None:
                gone.on_set(self._wake_runners)
            return self._wait_and_claim(runner, min(wait, self.settings.wait_seconds), gone)
        finally:
            with self._work:
                self._waiting -= 1

    @property
    def runners_waiting(self) -> int:
        with self._work:
            return self._waiting

    def _wait_and_claim(self, runner: str, wait: float, gone: Disconnection | None) -> dict[str, Any] | None:
        deadline = time.monotonic() + wait
        while gone is None or not gone.is_set():
            with self._work:
                generation = self._generation
            self.expire_leases()
            claim = self.store.claim(runner, self.clock())
            if claim is not None:
                self.lease_timer.ensure()
                build_id, attempt = claim
                if gone is not None and gone.is_set():
                    why = f"runner {runner}'s request for work closed as the build was claimed"
                    self.store.give_back(build_id, attempt, why, self.clock())
                    self._publish_builds([build_id])
                    self._wake_runners()
                    return None
                self._publish_builds([build_id])
                self._publish_runner(runner)
                return self._work_for(build_id, attempt)
            with self._work:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    break
                if generation == self._generation and (gone is None or not gone.is_set()):
                    self._work.wait(remaining)
        self.store.touch_runner(runner, self.clock())
        return None

    def _work_for(self, build_id: int, attempt: int) -> dict[str, Any]:
        s = self.settings
        work = self.store.work(build_id, attempt)
        return {
            **work,
            # Secrets are revealed now, for this runner only: the database never holds them.
            **work_env(s.repo_env.get(work["repo"]["name"], {})),
            "timeout_seconds": s.timeout_seconds,
            "silence_seconds": s.silence_seconds,
            "kill_grace_seconds": s.kill_grace_seconds,
            "max_log_bytes": s.max_log_bytes,
        }

    def heartbeat(self, runner: str, held: Held) -> dict[tuple[int, int], str]:
        before = self._runner_state(runner)
        actions = self.store.heartbeat(runner, held, self.clock())
        if self._runner_state(runner) != before:
            self._publish_runner(runner)
        return actions

    def append_log(self, build_id: int, attempt: int, offset: int, data: bytes) -> int:
        size = self.store.append_log(build_id, attempt, offset, data)
        if data:
            self.bus.publish(
                "ci.log", {"build": build_id, "attempt": attempt, "offset": offset, "size": size}
            )
        return size

    def finish(self, build_id: int, attempt: int, runner: str, result: Result) -> dict[str, Any]:
        if self.store.finish(build_id, attempt, runner, result, self.clock()):
            self._publish_builds([build_id])
            self._publish_runner(runner)
        return self.store.build(build_id)

    # --- observer and people --------------------------------------------------------------------

    def add_commits(self, repo: str, commits: list[CommitSpec]) -> list[tuple[int, bool]]:
        """Queue the commits of the configured repository named ``repo`` (NotFound for another)."""
        queued = self.store.add_commits(repo, commits, self.clock())
        created = [build_id for build_id, new in queued if new]
        if created:
            self._publish_builds(created)
            self._wake_runners()
        return queued

    def rebuild(self, commit_prefix: str, repo: str | None) -> dict[str, Any]:
        build_id = self.store.rebuild(commit_prefix, repo, self.clock())
        self._publish_builds([build_id])
        self._wake_runners()
        return self.store.build(build_id)

    def cancel(self, build_id: int) -> dict[str, Any]:
        self.store.cancel(build_id, self.clock())
        self._publish_builds([build_id])
        return self.store.build(build_id)

    # --- events ---------------------------------------------------------------------------------

    def _wake_runners(self) -> None:
        with self._work:
            self._generation += 1
            self._work.notify_all()

    def _publish_builds(self, build_ids: Iterable[int]) -> None:
        for build_id in dict.fromkeys(build_ids):
            build = self.store.build(build_id)
            build.pop("attempts")
            self.bus.publish("ci.build", build)
            # The wall follows this one: it names no person (``[server] hide_names``).
            self.bus.publish(
                "ci.repo", {"repo": build["repo"], "build": build["id"], "status": build["status"]}
            )

    def _runner_state(self, name: str) -> str | None:
        return next((r["state"] for r in self.runners() if r["name"] == name), None)

    def _publish_runner(self, name: str) -> None:
        for runner in self.runners():
            if runner["name"] == name:
                self.bus.publish("ci.runner", runner)
