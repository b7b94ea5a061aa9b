"""The system-test progress tracker as status sources: one per test machine, fed by the server's
event stream (``sources/feed.py``, as the own CI's) instead of polls.

One machine, one source, named after the machine: its tile appears when the machine is first seen
(at a connection's read, or at its first ``progress.run`` event), and the lamp shows the worst of
them like any other. A machine's state is its current (latest) run's:

- a failed or errored test in it: ``failure``, at once, even while the run goes on;
- still running or waiting: ``building_after_success`` or ``building_after_failure``, after the
  machine's previous run with a verdict, as the own CI colours a build;
- running or waiting, but its machine has sent nothing for ``[progress] interrupted_after``
  seconds: ``unreachable`` (the tracker shows such a run as ``interrupted``; it publishes nothing
  for it, so the feed decides it on its own clock, the monitor's, and re-reads the source when
  that moment comes);
- ended with passed and warning tests only: ``success``; cancelled: ``cancelled``; anything else
  (a test reported ``unknown``, or left so by a newer dry run): ``unknown``.

Each time the feed connects it reads every machine (``GET /tm_api/machines/``, page by page) and
each one's latest run (``GET /tm_api/machine_last_data/<pk>/``: the counts per status and the time
of the last report), and for a run still going on the run before it (the first two of
``GET /tm_api/machine_dry_run_datas/<pk>``, whose roll-up status says whether it failed); then it
applies the ``progress.run`` events as they come. An event carries the whole summary of a run, and
a run only moves forward (a start takes a waiting test, a stop ends a running one), so an event
older than what is known (an older run, or fewer tests done or started) is dropped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from appliance.auth import role_token
from appliance.config import Config
from appliance.monitor.sources import Reading, SourceRefused, building_after, expect, expect_object
from appliance.monitor.sources.feed import IDLE_SECONDS, EventFeed, FedSource
from appliance.monitor.states import State
from appliance.progress.statuses import (
    CANCELLED,
    ERROR,
    FAILED,
    INTERRUPTED,
    ONGOING,
    PASSED,
    WAITING,
    WARNING,
)

EVENTS = "/events?topic=progress.run"
PAGE_SIZE = 100  # the most /tm_api/machines/ gives a page
MAX_PAGES = 100  # 10 000 machines: far beyond any lab; a server that pages on is not read further
CLEAN = (PASSED, WARNING)


def progress_feed(config: Config) -> ProgressFeed | None:
    """The feed for ``[monitor] progress``, when it is on."""
    if not config.monitor.progress:
        return None
    return ProgressFeed(
        config.server_url,
        config.monitor.stale_after,
        config.progress.interrupted_after,
        token=role_token(config, "monitor"),
    )


def verdict(counts: dict[str, int], status: str) -> State | None:
    """What a run says of the code: a failed or errored test fails it, an ended run of passed and
    warning tests only passes; anything else (going on, cancelled, unknown) says nothing."""
    if counts.get(FAILED, 0) or counts.get(ERROR, 0):
        return State.FAILURE
    return State.SUCCESS if status in CLEAN else None


def checked_run(value: Any) -> dict[str, Any] | None:
    """A ``progress.run`` summary, or None for anything without the fields used here."""
    if not isinstance(value, dict):
        return None
    kinds = {"machine": str, "machine_id": int, "run": int, "counts": dict, "status": str, "done": int}
    if not all(isinstance(value.get(key), kind) for key, kind in kinds.items()):
        return None
    if not all(isinstance(count, int) for count in value["counts"].values()):
        return None
    return value


def step(run: dict[str, Any]) -> tuple[int, int, int]:
    """How far a machine's runs have gone; never back. A newer run comes after every older one;
    within a run each start takes a waiting test and each stop ends one."""
    counts = run["counts"]
    return run["run"], run["done"], sum(counts.values()) - counts.get(WAITING, 0)


@dataclass
class Machine:
    """What is known of one test machine: its current run's summary, when its machine last
    reported (on the monitor's clock), and the verdict of its runs before."""

    id: int
    name: str
    run: dict[str, Any] | None = None
    reported_at: float = -math.inf
    previous: State | None = None  # the verdict of the last run before the current one that had one

    def apply(self, run: dict[str, Any], now: float) -> None:
        if self.run is not None and step(run) < step(self.run):
            return  # published before what is known, delivered after it
        if self.run is not None and run["run"] != self.run["run"]:
            self.previous = verdict(self.run["counts"], self.run["status"]) or self.previous
        self.run, self.reported_at = run, now

    def reading(self, now: float, interrupted_after: float) -> Reading:
        link = f"/tm_api/machine_last_data/{self.id}/"
        run = self.run
        if run is None:
            return Reading(State.UNKNOWN, link, "no run yet")
        counts, status = run["counts"], run["status"]
        total = sum(counts.values())
        bad = counts.get(FAILED, 0) + counts.get(ERROR, 0)
        after = f"; last run: {self.previous.meaning.lower()}" if self.previous else ""
        if bad:
            going = f", {status}" if status in ONGOING else ""
            detail = f"run #{run['run']}: {bad} of {total} failed or errored{going}"
            return Reading(State.FAILURE, link, detail)
        silent = now - self.reported_at
        if status == INTERRUPTED or (status in ONGOING and silent >= interrupted_after):
            return Reading(
                State.UNREACHABLE, link, f"run #{run['run']} interrupted: no report for {silent:.0f} s"
            )
        if status in ONGOING:
            detail = f"run #{run['run']}: {status}, {run['done']} of {total} done{after}"
            return Reading(building_after(self.previous), link, detail)
        if status in CLEAN:
            return Reading(State.SUCCESS, link, f"run #{run['run']}: {status}, {total} tests")
        state = State.CANCELLED if status == CANCELLED else State.UNKNOWN
        return Reading(state, link, f"run #{run['run']}: {status}{after}")

    def recheck_in(self, now: float, interrupted_after: float) -> float:
        """Seconds until the current run turns interrupted, if it is going on."""
        if self.run is None or self.run["status"] not in ONGOING:
            return IDLE_SECONDS
        left = self.reported_at + interrupted_after - now
        return min(left, IDLE_SECONDS) if left > 0 else IDLE_SECONDS


class ProgressSource(FedSource):
    """One test machine of the feed."""

    kind = "progress"


@dataclass
class Snapshot:
    """One machine as read at a connection: its latest run as a ``progress.run`` summary, how many
    seconds ago its machine last reported, and the verdict of the run before."""

    id: int
    name: str
    run: dict[str, Any] | None
    silent_for: float
    previous: State | None


class ProgressFeed(EventFeed):
    """The thread that follows the server's ``progress.run`` events, one source per machine.

    ``clock`` must be the monitor's: ``SourceLost.since``, ``recheck_in`` and when a silent run
    counts as interrupted are times on it.
    """

    label = "test progress"
    path = EVENTS
    events = frozenset({"progress.run"})
    home = "/tm_api/machines/"
    thread_name = "progress-feed"

    def __init__(
        self,
        server_url: str,
        stale_after: float,
        interrupted_after: float,
        *,
        wall_clock: Callable[[], float] = time.time,
        **timing: Any,
    ):
        """``timing``: the feed's token, clock and waits, as ``EventFeed`` takes them."""
        super().__init__(server_url, stale_after, **timing)
        self.interrupted_after = interrupted_after
        self.wall_clock = wall_clock  # only to tell how long ago a machine reported, at a connection
        self._machines: dict[int, Machine] = {}
        self._by_name: dict[str, Machine] = {}

    # --- under the lock ---------------------------------------------------------------------------

    def known_reading(self, name: str) -> Reading:
        return self._by_name[name].reading(self.clock(), self.interrupted_after)

    def connected_recheck(self, name: str) -> float:
        return self._by_name[name].recheck_in(self.clock(), self.interrupted_after)

    def install(self, snapshot: list[Snapshot]) -> None:
        now = self.clock()
        for seen in snapshot:
            machine = self._machine(seen.id, seen.name)
            machine.run, machine.previous = seen.run, seen.previous
            machine.reported_at = now - seen.silent_for

    def apply_event(self, event: str, value: Any) -> list[FedSource]:
        run = checked_run(value)
        if run is None:
            return []
        new = run["machine_id"] not in self._machines
        machine = self._machine(run["machine_id"], run["machine"])
        now = self.clock()
        before = None if new else machine.reading(now, self.interrupted_after)
        machine.apply(run, now)
        if machine.reading(now, self.interrupted_after) == before:
            return []
        return [source for source in self.sources if source.name == machine.name]

    def _machine(self, machine_id: int, name: str) -> Machine:
        """The machine ``machine_id``, and its source, made on first sight."""
        machine = self._machines.get(machine_id)
        if machine is None:
            machine = self._machines[machine_id] = Machine(machine_id, name)
            self._by_name[name] = machine
            self.sources.append(ProgressSource(self, name))
        return machine

    # --- the reads at a connection (no lock held) -------------------------------------------------

    def read_snapshot(self) -> list[Snapshot]:
        return [self._read_machine(item) for item in self._machines_listed()]

    def _get(self, path: str, where: str) -> Any:
        answer = self._client.call("GET", path)
        if answer.status != 200:
            raise SourceRefused(answer.summary(f"{self.server_url}{where}"))
        return answer.body

    def _machines_listed(self) -> list[dict[str, Any]]:
        where = "/tm_api/machines/"
        listed: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            body = self._get(f"{where}?" + urlencode({"page": page, "page_size": PAGE_SIZE}), where)
            for item in expect(body, "results", list, where):
                pk = expect(item, "pk", int, where)
                listed.append({"pk": pk, "name": expect(item, "machine_name", str, where)})
            if body.get("has_next") is not True:
                break
        return listed

    def _read_machine(self, item: dict[str, Any]) -> Snapshot:
        pk, name = item["pk"], item["name"]
        where = "/tm_api/machine_last_data/"
        last = expect_object(self._get(f"{where}{pk}/", where), where).get("last_master_scenario")
        if last is None:
            return Snapshot(pk, name, None, 0.0, None)
        counts = expect(last, "tests_statistics", dict, where)
        run = {
            "machine": name,
            "machine_id": pk,
            "run": expect(last, "pk", int, where),
            "counts": counts,
            "status": expect(last, "status", str, where),
            "done": expect(last, "done", int, where),
        }
        if checked_run(run) is None:
            raise SourceRefused(f"unexpected answer from {where}: tests_statistics should count tests")
        previous = self._previous_verdict(pk) if run["status"] in ONGOING else None
        return Snapshot(pk, name, run, self._silent_for(last.get("last_report_at")), previous)

    def _previous_verdict(self, pk: int) -> State | None:
        """The verdict of the run before the latest, from its roll-up status: ``failed`` or
        ``error`` failed it, ``passed`` or ``warning`` passed it."""
        where = "/tm_api/machine_dry_run_datas/"
        body = self._get(f"{where}{pk}?" + urlencode({"page_size": 2}), where)
        runs = expect(body, "results", list, where)
        if len(runs) < 2:
            return None
        status = expect(runs[1], "tests_status", str, where)
        return State.FAILURE if status in (FAILED, ERROR) else verdict({}, status)

    def _silent_for(self, last_report_at: Any) -> float:
        """Seconds since the machine's last report, by this machine's wall clock (the server's own,
        the monitor running beside it); 0 for a time it cannot read."""
        if not isinstance(last_report_at, str):
            return 0.0
        try:
            at = datetime.fromisoformat(last_report_at).timestamp()
        except ValueError:
            return 0.0
        return max(0.0, self.wall_clock() - at)
