"""The CI's state in the database, as one object over its parts, each a module of its own:

- ``repos.py``: which repositories exist (only the configured ones);
- ``queue.py``: commits and rebuilds queued, builds cancelled;
- ``leases.py``: claims, leases renewed by heartbeat, lost attempts queued again;
- ``runners.py``: the runner registry;
- ``logs.py``: log chunks at offsets;
- ``results.py``: an attempt's result;
- ``views.py``: the read model, what every page, API answer and event shows, logs too.

Every change is one serialised transaction (``db.write()``). The errors are ``errors.py``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.ci.errors import Conflict, LogOffsetMismatch, LogTooLarge, NotFound
from appliance.ci.leases import Leases
from appliance.ci.logs import Logs
from appliance.ci.queue import CommitSpec, Queue
from appliance.ci.repos import RepoCatalog, RepoSpec
from appliance.ci.results import Result, Results
from appliance.ci.runners import RunnerRegistry
from appliance.ci.views import Views
from appliance.db import Database

__all__ = [
    "CIStore",
    "CommitSpec",
    "Conflict",
    "LogOffsetMismatch",
    "LogTooLarge",
    "NotFound",
    "Policy",
    "RepoSpec",
    "Result",
]


@dataclass(frozen=True)
class Policy:
    """The limits of ``[ci]`` that the state keeps; no defaults here: the dispatcher's ``Settings``
    makes it, with ``CIConfig``'s."""

    max_attempts: int
    lease_seconds: float
    max_log_bytes: int


class CIStore:
    def __init__(self, db: Database, policy: Policy):
        self.db = db
        self.policy = policy
        self.catalog = RepoCatalog(db)
        self.queue = Queue(db, self.catalog)
        self.leases = Leases(db, self.catalog, policy.max_attempts, policy.lease_seconds)
        self.runners = RunnerRegistry(db)
        self.logs = Logs(db, policy.max_log_bytes)
        self.results = Results(db)
        self.views = Views(db, self.catalog, self.logs, policy.lease_seconds)

        # Each operation under the name the dispatcher uses.
        self.sync_repos = self.catalog.sync
        self.add_commits = self.queue.add_commits
        self.rebuild = self.queue.rebuild
        self.cancel = self.queue.cancel
        self.claim = self.leases.claim
        self.expire_leases = self.leases.expire
        self.give_back = self.leases.give_back
        self.grant_grace = self.leases.grant_grace
        self.next_lease_expiry = self.leases.next_expiry
        self.register_runner = self.leases.register_runner
        self.heartbeat = self.leases.heartbeat
        self.touch_runner = self.runners.touch
        self.runner_known = self.runners.known
        self.append_log = self.logs.append
        self.log_size = self.logs.size
        self.read_log = self.logs.read
        self.finish = self.results.finish
        self.build = self.views.build
        self.builds = self.views.builds
        self.work = self.views.work
        self.repositories = self.views.repositories
        self.cc_projects = self.views.cc_projects
        self.runner_list = self.views.runner_list
