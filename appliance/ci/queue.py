"""What enters and leaves the queue by request: the observer's commits, a person's rebuild and
cancel. Each is one serialised transaction (``db.write()``). Claims and leases, which take builds
off the queue and may put them back, are ``leases.py``.

A build's place is its ``queue_position``: a new build goes to the back, a build whose attempt was
lost goes back to the front.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from appliance.ci.errors import Conflict, NotFound
from appliance.ci.repos import RepoCatalog
from appliance.ci.schema import attempts, builds, builds_query, repos
from appliance.ci.statuses import ACTIVE, CANCELLED, QUEUED, RUNNING
from appliance.db import Database


@dataclass(frozen=True)
class CommitSpec:
    sha: str
    author: str
    message: str
    committed_at: float | None = None


class Queue:
    def __init__(self, db: Database, catalog: RepoCatalog):
        self.db = db
        self.catalog = catalog

    def add_commits(self, repo_name: str, commits: list[CommitSpec], now: float) -> list[tuple[int, bool]]:
        """Queue a build per commit of a configured repository, oldest first, with its configured
        branch and command; a commit already pushed gets no second build (the observer re-sends
        its outbox when unsure whether it arrived). Returns (id, created)."""
        queued = []
        with self.db.write() as conn:
            repo = self.catalog.named(conn, repo_name)
            for commit in commits:
                existing = conn.execute(
                    select(builds.c.id).where(
                        builds.c.repo_id == repo.id,
                        builds.c.commit_sha == commit.sha,
                        builds.c.trigger == "push",
                    )
                ).scalar()
                if existing is not None:
                    queued.append((existing, False))
                    continue
                values = {
                    "repo_id": repo.id,
                    "commit_sha": commit.sha,
                    "branch": repo.branch,
                    "author": commit.author,
                    "message": commit.message,
                    "committed_at": commit.committed_at,
                    "trigger": "push",
                    "command": repo.command,
                }
                queued.append((self._enqueue(conn, values, now), True))
        return queued

    def _enqueue(self, conn: Connection, values: dict[str, Any], now: float) -> int:
        """A new build at the back of the queue; its id."""
        back = conn.execute(
            select(func.max(builds.c.queue_position)).where(builds.c.status == QUEUED)
        ).scalar()
        return conn.execute(
            insert(builds).values(
                **values,
                status=QUEUED,
                queue_position=(back + 1) if back is not None else 0,
                attempts=0,
                created_at=now,
            )
        ).inserted_primary_key[0]

    def rebuild(self, commit_prefix: str, repo_name: str | None, now: float) -> int:
        """A new build of a commit already built (by a unique prefix) of a configured repository,
        with the repository's current command; queued at the back."""
        query = builds_query().where(
            builds.c.commit_sha.startswith(commit_prefix, autoescape=True), self.catalog.is_configured()
        )
        if repo_name is not None:
            query = query.where(repos.c.name == repo_name)
        with self.db.write() as conn:
            rows = conn.execute(query.order_by(builds.c.id.desc())).all()
            if not rows:
                raise NotFound(f"no build of a commit starting with {commit_prefix!r}")
            matches = sorted({(row.repo, row.commit_sha) for row in rows})
            if len(matches) > 1:
                names = ", ".join(f"{repo} {sha[:12]}" for repo, sha in matches)
                raise Conflict(f"{commit_prefix!r} matches several commits ({names}): give more of it")
            latest = rows[0]
            command = conn.execute(select(repos.c.command).where(repos.c.id == latest.repo_id)).scalar_one()
            values = {
                "repo_id": latest.repo_id,
                "commit_sha": latest.commit_sha,
                "branch": latest.branch,
                "author": latest.author,
                "message": latest.message,
                "committed_at": latest.committed_at,
                "trigger": "rebuild",
                "command": command,
            }
            return self._enqueue(conn, values, now)

    def cancel(self, build_id: int, now: float) -> None:
        """End a queued or running build; its runner learns it at its next heartbeat."""
        with self.db.write() as conn:
            build = conn.execute(select(builds).where(builds.c.id == build_id)).first()
            if build is None:
                raise NotFound(f"no build {build_id}")
            changed = conn.execute(
                update(builds)
                .where(builds.c.id == build_id, builds.c.status.in_(ACTIVE))
                .values(status=CANCELLED, reason="cancelled", queue_position=None, finished_at=now)
            ).rowcount
            if not changed:
                raise Conflict(f"build {build_id} has already ended: {build.status}")
            conn.execute(
                update(attempts)
                .where(attempts.c.build_id == build_id, attempts.c.status == RUNNING)
                .values(status=CANCELLED, reason="cancelled", lease_expires=None, finished_at=now)
            )
