"""Which repositories exist: only those of the server's configuration (``[[ci.repos]]``).

A request only names a repository; its URL, branch and command come from the configuration, synced
into the database at server start. A repository dropped from the configuration keeps its rows (its
history), but its queued builds are cancelled, and every listing, claim and new build is limited to
the configured names: filtering the reads needs no change of the tables, which a ``removed_at``
column would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, insert, select, update

from appliance.ci.errors import NotFound
from appliance.ci.schema import builds, repos
from appliance.ci.settings import CIConfig
from appliance.ci.statuses import CANCELLED, QUEUED
from appliance.db import Database


@dataclass(frozen=True)
class RepoSpec:
    name: str
    url: str
    branch: str
    command: str


def repo_specs(ci: CIConfig) -> list[RepoSpec]:
    return [RepoSpec(name=r.name, url=r.url, branch=r.branch, command=r.command) for r in ci.repos]


class RepoCatalog:
    """The configured repositories: kept in the database, their names remembered for every query."""

    def __init__(self, db: Database):
        self.db = db
        self.configured: frozenset[str] = frozenset()  # set by sync

    def sync(self, specs: Iterable[RepoSpec], now: float) -> None:
        """Make the configured repositories the only ones: record each as configured, and cancel
        the queued builds of any other, so that they never reach a runner."""
        specs = list(specs)
        names = frozenset(spec.name for spec in specs)
        with self.db.write() as conn:
            for spec in specs:
                self._upsert(conn, spec, now)
            for repo_id, name in conn.execute(
                select(repos.c.id, repos.c.name).where(repos.c.name.not_in(names))
            ):
                conn.execute(
                    update(builds)
                    .where(builds.c.repo_id == repo_id, builds.c.status == QUEUED)
                    .values(
                        status=CANCELLED,
                        reason=f"repository {name} is no longer in [[ci.repos]]",
                        queue_position=None,
                        finished_at=now,
                    )
                )
        self.configured = names

    def _upsert(self, conn: Connection, spec: RepoSpec, now: float) -> None:
        values = {"url": spec.url, "branch": spec.branch, "command": spec.command, "updated_at": now}
        existing = conn.execute(select(repos.c.id).where(repos.c.name == spec.name)).scalar()
        if existing is not None:
            conn.execute(update(repos).where(repos.c.id == existing).values(**values))
        else:
            conn.execute(insert(repos).values(name=spec.name, **values))

    def is_configured(self) -> ColumnElement[bool]:
        """The condition on ``repos`` (joined) that keeps what the configuration names."""
        return repos.c.name.in_(self.configured)

    def named(self, conn: Connection, name: str) -> Any:
        """The configured repository ``name``'s row, or NotFound."""
        repo = conn.execute(select(repos).where(repos.c.name == name, self.is_configured())).first()
        if repo is None:
            raise NotFound(f"no repository {name!r} in [[ci.repos]]")
        return repo
