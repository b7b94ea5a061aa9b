"""The CI's state in the database: repositories, builds, their attempts, log chunks, runners.

Every change is one serialised transaction (``db.write()``); a claim is one conditional UPDATE
(``... WHERE status = 'queued'``) so that two runners asking at once can never both win, and
losing that race is an ordinary answer, not an error. A build's attempt is the unit of a lease: a
runner that stops renewing it loses the attempt, and the build goes back to the front of the
queue as a new attempt until ``max_attempts`` is reached. Results and log appends are keyed by
(build, attempt), so a late runner can never overwrite the attempt that replaced it.

Only the server's configuration (``[[ci.repos]]``, given to ``sync_repos`` at start) defines a
repository, its URL, branch and command; a request only names one. A repository dropped from the
configuration keeps its rows (its history), but the store remembers the configured names and
every listing (builds, repositories, ``/cc.xml``), every claim and every new build is limited to
them: filtering the reads needs no change of the tables, which a ``removed_at`` column would.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, func, insert, select, update

from appliance.ci.redact import redact
from appliance.ci.schema import (
    ACTIVE,
    RESULTS,
    VERDICTS,
    attempt_json,
    attempts,
    build_json,
    builds,
    builds_query,
    iso,
    log_chunks,
    repos,
    runners,
)
from appliance.db import Database


class NotFound(LookupError):
    """No such build, attempt or repository."""


class Conflict(Exception):
    """The request is valid but contradicts the state: a finished build, a lost attempt."""


class LogOffsetMismatch(Conflict):
    def __init__(self, offset: int):
        super().__init__(f"the server has {offset} bytes of this log: send from offset {offset}")
        self.offset = offset


class LogTooLarge(Exception):
    """An append beyond the configured ``max_log_bytes``."""


@dataclass(frozen=True)
class RepoSpec:
    name: str
    url: str
    branch: str
    command: str


@dataclass(frozen=True)
class CommitSpec:
    sha: str
    author: str
    message: str
    committed_at: float | None = None


@dataclass(frozen=True)
class Result:
    status: str
    exit_code: int | None = None
    tests: int | None = None
    failures: int | None = None
    errors: int | None = None
    skipped: int | None = None
    command_seconds: float | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Policy:
    max_attempts: int = 3
    lease_seconds: float = 60.0
    max_log_bytes: int = 32 * 1024 * 1024


class CIStore:
    def __init__(self, db: Database, policy: Policy):
        self.db = db
        self.policy = policy
        self.configured: frozenset[str] = frozenset()  # set by sync_repos

    # --- repositories and builds ---------------------------------------------------------------

    def sync_repos(self, specs: Iterable[RepoSpec], now: float) -> None:
        """Make the configured repositories the only ones: record each as configured, and cancel
        the queued builds of any other, so that they never reach a runner."""
        specs = list(specs)
        names = frozenset(spec.name for spec in specs)
        with self.db.write() as conn:
            for spec in specs:
                self._upsert_repo(conn, spec, now)
            for repo_id, name in conn.execute(
                select(repos.c.id, repos.c.name).where(repos.c.name.not_in(names))
            ):
                conn.execute(
                    update(builds)
                    .where(builds.c.repo_id == repo_id, builds.c.status == "queued")
                    .values(
                        status="cancelled",
                        reason=f"repository {name} is no longer in [[ci.repos]]",
                        queue_position=None,
                        finished_at=now,
                    )
                )
        self.configured = names

    def _upsert_repo(self, conn: Connection, spec: RepoSpec, now: float) -> None:
        values = {"url": spec.url, "branch": spec.branch, "command": spec.command, "updated_at": now}
        existing = conn.execute(select(repos.c.id).where(repos.c.name == spec.name)).scalar()
        if existing is not None:
            conn.execute(update(repos).where(repos.c.id == existing).values(**values))
        else:
            conn.execute(insert(repos).values(name=spec.name, **values))

    def _is_configured(self) -> ColumnElement[bool]:
        """The condition on ``repos`` (joined) that keeps what the configuration names."""
        return repos.c.name.in_(self.configured)

    def add_commits(self, repo_name: str, commits: list[CommitSpec], now: float) -> list[tuple[int, bool]]:
        """Queue a build per commit of a configured repository, oldest first, with its configured
        branch and command; a commit already pushed gets no second build (the observer re-sends
        its outbox when unsure whether it arrived). Returns (id, created)."""
        queued = []
        with self.db.write() as conn:
            repo = conn.execute(select(repos).where(repos.c.name == repo_name, self._is_configured())).first()
            if repo is None:
                raise NotFound(f"no repository {repo_name!r} in [[ci.repos]]")
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
                queued.append((self._queue(conn, values, now), True))
        return queued

    def _queue(self, conn: Connection, values: dict[str, Any], now: float) -> int:
        back = conn.execute(
            select(func.max(builds.c.queue_position)).where(builds.c.status == "queued")
        ).scalar()
        return conn.execute(
            insert(builds).values(
                **values,
                status="queued",
                queue_position=(back + 1) if back is not None else 0,
                attempts=0,
                created_at=now,
            )
        ).inserted_primary_key[0]

    def rebuild(self, commit_prefix: str, repo_name: str | None, now: float) -> int:
        """A new build of a commit already built (by a unique prefix) of a configured repository,
        with the repository's current command; queued at the back."""
        query = builds_query().where(
            builds.c.commit_sha.startswith(commit_prefix, autoescape=True), self._is_configured()
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
            return self._queue(conn, values, now)

    def cancel(self, build_id: int, now: float) -> None:
        with self.db.write() as conn:
            build = conn.execute(select(builds).where(builds.c.id == build_id)).first()
            if build is None:
                raise NotFound(f"no build {build_id}")
            changed = conn.execute(
                update(builds)
                .where(builds.c.id == build_id, builds.c.status.in_(ACTIVE))
                .values(status="cancelled", reason="cancelled", queue_position=None, finished_at=now)
            ).rowcount
            if not changed:
                raise Conflict(f"build {build_id} has already ended: {build.status}")
            conn.execute(
                update(attempts)
                .where(attempts.c.build_id == build_id, attempts.c.status == "running")
                .values(status="cancelled", reason="cancelled", lease_expires=None, finished_at=now)
            )

    # --- leases ---------------------------------------------------------------------------------

    def claim(self, runner: str, now: float) -> tuple[int, int] | None:
        """Lease the oldest queued build to ``runner``: (build id, attempt number), or None."""
        with self.db.write() as conn:
            candidates = conn.execute(
                select(builds.c.id)
                .join(repos, repos.c.id == builds.c.repo_id)
                .where(builds.c.status == "queued", self._is_configured())
                .order_by(builds.c.queue_position, builds.c.id)
                .limit(8)
            ).scalars()
            for build_id in list(candidates):
                won = conn.execute(
                    update(builds)
                    .where(builds.c.id == build_id, builds.c.status == "queued")
                    .values(
                        status="running",
                        attempts=builds.c.attempts + 1,
                        runner=runner,
                        queue_position=None,
                        started_at=now,
                    )
                ).rowcount
                if not won:
                    continue  # another claim took it first: try the next one
                number = conn.execute(select(builds.c.attempts).where(builds.c.id == build_id)).scalar_one()
                conn.execute(
                    insert(attempts).values(
                        build_id=build_id,
                        number=number,
                        runner=runner,
                        status="running",
                        lease_expires=now + self.policy.lease_seconds,
                        log_bytes=0,
                        started_at=now,
                    )
                )
                self._touch_runner(conn, runner, now, "busy")
                return build_id, number
        return None

    def expire_leases(self, now: float) -> list[int]:
        """End every attempt whose lease ran out; returns the builds that changed."""
        with self.db.write() as conn:
            expired = conn.execute(
                select(attempts).where(attempts.c.status == "running", attempts.c.lease_expires < now)
            ).all()
            for attempt in expired:
                silent_since = iso(attempt.lease_expires - self.policy.lease_seconds)
                why = f"runner {attempt.runner} stopped renewing its lease at {silent_since}"
                self._lose(conn, attempt, why, now)
        return [attempt.build_id for attempt in expired]

    def _lose(self, conn: Connection, attempt: Any, why: str, now: float) -> None:
        conn.execute(
            update(attempts)
            .where(attempts.c.id == attempt.id, attempts.c.status == "running")
            .values(status="lost", reason=why, lease_expires=None, finished_at=now)
        )
        build = conn.execute(select(builds).where(builds.c.id == attempt.build_id)).one()
        if build.status != "running" or build.attempts != attempt.number:
            return
        limit = self.policy.max_attempts
        if attempt.number < limit:
            front = conn.execute(
                select(func.min(builds.c.queue_position)).where(builds.c.status == "queued")
            ).scalar()
            conn.execute(
                update(builds)
                .where(builds.c.id == build.id, builds.c.status == "running")
                .values(
                    status="queued",
                    queue_position=(front - 1) if front is not None else 0,
                    runner=None,
                    reason=f"attempt {attempt.number} of {limit} lost ({why}); queued again first",
                )
            )
        else:
            conn.execute(
                update(builds)
                .where(builds.c.id == build.id, builds.c.status == "running")
                .values(status="error", finished_at=now, reason=f"all {limit} attempts lost; the last: {why}")
            )

    def give_back(self, build_id: int, number: int, why: str, now: float) -> None:
        """End an attempt that never reached its runner (its request closed as the build was
        claimed): the build goes back to the front of the queue, as for a lost lease."""
        with self.db.write() as conn:
            attempt = self._attempt(conn, build_id, number)
            if attempt.status == "running":
                self._lose(conn, attempt, why, now)

    def grant_grace(self, now: float) -> None:
        """At server start: runners could not renew leases while the server was away, so every
        running attempt gets a full lease from now rather than being declared lost at once."""
        with self.db.write() as conn:
            conn.execute(
                update(attempts)
                .where(
                    attempts.c.status == "running", attempts.c.lease_expires < now + self.policy.lease_seconds
                )
                .values(lease_expires=now + self.policy.lease_seconds)
            )

    def next_lease_expiry(self) -> float | None:
        with self.db.read() as conn:
            return conn.execute(
                select(func.min(attempts.c.lease_expires)).where(attempts.c.status == "running")
            ).scalar()

    # --- runners --------------------------------------------------------------------------------

    def register_runner(
        self, name: str, labels: list[str], capacity: int, held: set[tuple[int, int]], now: float
    ) -> list[int]:
        """Record a (re)starting runner. Attempts the server thinks it runs but it does not hold
        any more (it restarted) are lost now instead of at their lease's end. Returns the
        builds that changed."""
        with self.db.write() as conn:
            row = {"labels": json.dumps(labels), "capacity": capacity, "last_seen": now}
            if conn.execute(select(runners.c.name).where(runners.c.name == name)).first():
                conn.execute(update(runners).where(runners.c.name == name).values(**row))
            else:
                conn.execute(insert(runners).values(name=name, state="idle", registered_at=now, **row))
            running = conn.execute(
                select(attempts).where(attempts.c.runner == name, attempts.c.status == "running")
            ).all()
            forgotten = [a for a in running if (a.build_id, a.number) not in held]
            for attempt in forgotten:
                self._lose(conn, attempt, f"runner {name} restarted without it", now)
            self._renew(conn, name, held, now)
            self._touch_runner(conn, name, now, "busy" if len(running) > len(forgotten) else "idle")
        return [attempt.build_id for attempt in forgotten]

    def heartbeat(self, name: str, held: set[tuple[int, int]], now: float) -> dict[tuple[int, int], str]:
        """Renew the leases of what the runner holds; for each: continue, cancel or lost."""
        with self.db.write() as conn:
            if conn.execute(select(runners.c.name).where(runners.c.name == name)).first() is None:
                raise NotFound(f"runner {name} is not registered")
            renewed = self._renew(conn, name, held, now)
            actions = {}
            for key in held:
                if key in renewed:
                    actions[key] = "continue"
                    continue
                status = conn.execute(
                    select(attempts.c.status).where(
                        attempts.c.build_id == key[0], attempts.c.number == key[1], attempts.c.runner == name
                    )
                ).scalar()
                actions[key] = "cancel" if status == "cancelled" else "lost"
            self._touch_runner(conn, name, now, "busy" if renewed else "idle")
            return actions

    def _renew(
        self, conn: Connection, name: str, held: set[tuple[int, int]], now: float
    ) -> set[tuple[int, int]]:
        renewed = set()
        for build_id, number in held:
            if conn.execute(
                update(attempts)
                .where(
                    attempts.c.build_id == build_id,
                    attempts.c.number == number,
                    attempts.c.runner == name,
                    attempts.c.status == "running",
                )
                .values(lease_expires=now + self.policy.lease_seconds)
            ).rowcount:
                renewed.add((build_id, number))
        return renewed

    def _touch_runner(self, conn: Connection, name: str, now: float, state: str) -> None:
        conn.execute(update(runners).where(runners.c.name == name).values(last_seen=now, state=state))

    def touch_runner(self, name: str, now: float) -> None:
        with self.db.write() as conn:
            conn.execute(update(runners).where(runners.c.name == name).values(last_seen=now))

    def runner_known(self, name: str) -> bool:
        with self.db.read() as conn:
            return conn.execute(select(runners.c.name).where(runners.c.name == name)).first() is not None

    # --- logs and results -----------------------------------------------------------------------

    def append_log(self, build_id: int, number: int, offset: int, data: bytes) -> int:
        """Append at exactly the server's offset (else LogOffsetMismatch with it); the new size."""
        with self.db.write() as conn:
            attempt = self._attempt(conn, build_id, number)
            if offset != attempt.log_bytes:
                raise LogOffsetMismatch(attempt.log_bytes)
            if not data:
                return attempt.log_bytes
            if attempt.log_bytes + len(data) > self.policy.max_log_bytes + 4096:
                raise LogTooLarge(f"the log would exceed max_log_bytes ({self.policy.max_log_bytes})")
            conn.execute(
                insert(log_chunks).values(
                    build_id=build_id, attempt=number, start_offset=offset, size=len(data), data=data
                )
            )
            conn.execute(
                update(attempts)
                .where(attempts.c.id == attempt.id, attempts.c.log_bytes == offset)
                .values(log_bytes=offset + len(data))
            )
            return offset + len(data)

    def _attempt(self, conn: Connection, build_id: int, number: int) -> Any:
        attempt = conn.execute(
            select(attempts).where(attempts.c.build_id == build_id, attempts.c.number == number)
        ).first()
        if attempt is None:
            raise NotFound(f"build {build_id} has no attempt {number}")
        return attempt

    def finish(self, build_id: int, number: int, runner: str, result: Result, now: float) -> bool:
        """Record an attempt's result. True when it changed the build; False for the same
        result sent again by its runner (its answer was lost); Conflict for anything else: the
        attempt was lost, replaced or cancelled, and nothing changes."""
        if result.status not in RESULTS:
            raise ValueError(f"status must be one of {', '.join(RESULTS)}")
        with self.db.write() as conn:
            attempt = self._attempt(conn, build_id, number)
            if attempt.runner != runner:
                raise Conflict(f"attempt {number} of build {build_id} belongs to runner {attempt.runner}")
            if attempt.status != "running":
                if attempt.status == result.status and attempt.exit_code == result.exit_code:
                    return False
                raise Conflict(
                    f"attempt {number} of build {build_id} is {attempt.status}"
                    + (f": {attempt.reason}" if attempt.reason else "")
                )
            values = {
                "status": result.status,
                "exit_code": result.exit_code,
                "tests": result.tests,
                "failures": result.failures,
                "errors": result.errors,
                "skipped": result.skipped,
                "reason": result.reason,
                "finished_at": now,
            }
            conn.execute(
                update(attempts)
                .where(attempts.c.id == attempt.id, attempts.c.status == "running")
                .values(**values, command_seconds=result.command_seconds, lease_expires=None)
            )
            conn.execute(
                update(builds)
                .where(builds.c.id == build_id, builds.c.status == "running", builds.c.attempts == number)
                .values(**values)
            )
            still_busy = conn.execute(
                select(attempts.c.id).where(attempts.c.runner == runner, attempts.c.status == "running")
            ).first()
            self._touch_runner(conn, runner, now, "busy" if still_busy else "idle")
            return True

    # --- reads ----------------------------------------------------------------------------------

    def build(self, build_id: int) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(builds_query().where(builds.c.id == build_id)).first()
            if row is None:
                raise NotFound(f"no build {build_id}")
            tries = conn.execute(
                select(attempts).where(attempts.c.build_id == build_id).order_by(attempts.c.number)
            ).all()
        return {**build_json(row), "attempts": [attempt_json(a) for a in tries]}

    def builds(self, repo: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        query = builds_query().where(self._is_configured()).order_by(builds.c.id.desc()).limit(limit)
        if repo is not None:
            query = query.where(repos.c.name == repo)
        with self.db.read() as conn:
            return [build_json(row) for row in conn.execute(query)]

    def work(self, build_id: int, number: int) -> dict[str, Any]:
        """What a runner needs to run an attempt."""
        with self.db.read() as conn:
            row = conn.execute(
                select(
                    builds.c.id,
                    builds.c.commit_sha,
                    builds.c.command,
                    repos.c.name,
                    repos.c.url,
                    repos.c.branch,
                )
                .join(repos, repos.c.id == builds.c.repo_id)
                .where(builds.c.id == build_id)
            ).one()
        return {
            "build": row.id,
            "attempt": number,
            "repo": {"name": row.name, "url": row.url, "branch": row.branch},
            "commit": row.commit_sha,
            "command": row.command,
        }

    def repositories(self, recent: int = 10) -> list[dict[str, Any]]:
        """The configured repositories, their URL without its password, their latest builds."""
        with self.db.read() as conn:
            rows = conn.execute(select(repos).where(self._is_configured()).order_by(repos.c.name)).all()
            return [
                {
                    "name": repo.name,
                    "url": redact(repo.url),
                    "branch": repo.branch,
                    "command": repo.command,
                    "builds": [
                        build_json(b)
                        for b in conn.execute(
                            builds_query()
                            .where(builds.c.repo_id == repo.id)
                            .order_by(builds.c.id.desc())
                            .limit(recent)
                        )
                    ],
                }
                for repo in rows
            ]

    def cc_projects(self) -> list[dict[str, Any]]:
        """Per repository: is a build running, and its last build with a verdict (for /cc.xml)."""
        projects = []
        with self.db.read() as conn:
            for repo in conn.execute(select(repos).where(self._is_configured()).order_by(repos.c.name)).all():
                running = conn.execute(
                    select(builds.c.id).where(builds.c.repo_id == repo.id, builds.c.status == "running")
                ).first()
                last = conn.execute(
                    builds_query()
                    .where(builds.c.repo_id == repo.id, builds.c.status.in_(VERDICTS))
                    .order_by(builds.c.finished_at.desc(), builds.c.id.desc())
                    .limit(1)
                ).first()
                projects.append(
                    {
                        "name": repo.name,
                        "building": running is not None,
                        "last": build_json(last) if last else None,
                    }
                )
        return projects

    def log_size(self, build_id: int, number: int) -> int:
        with self.db.read() as conn:
            return self._attempt(conn, build_id, number).log_bytes

    def read_log(self, build_id: int, number: int, offset: int, limit: int) -> tuple[bytes, int]:
        """Up to ``limit`` bytes of an attempt's log from ``offset``, and the log's size so far."""
        with self.db.read() as conn:
            size = self._attempt(conn, build_id, number).log_bytes
            if offset >= size:
                return b"", size
            rows = conn.execute(
                select(log_chunks.c.start_offset, log_chunks.c.data)
                .where(
                    log_chunks.c.build_id == build_id,
                    log_chunks.c.attempt == number,
                    log_chunks.c.start_offset + log_chunks.c.size > offset,
                    # Never past the end, so that no offset + limit can exceed SQLite's integers.
                    log_chunks.c.start_offset < min(offset + limit, size),
                )
                .order_by(log_chunks.c.start_offset)
            )
            parts = [data[max(0, offset - start) :] for start, data in rows]
        return b"".join(parts)[:limit], size

    def runner_list(self, now: float) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(select(runners).order_by(runners.c.name)).all()
            held = conn.execute(
                select(attempts.c.runner, attempts.c.build_id, attempts.c.number).where(
                    attempts.c.status == "running"
                )
            ).all()
        current: dict[str, list[dict[str, int]]] = {}
        for runner, build_id, number in held:
            current.setdefault(runner, []).append({"build": build_id, "attempt": number})
        return [
            {
                "name": row.name,
                "labels": json.loads(row.labels),
                "capacity": row.capacity,
                "state": "offline" if now - row.last_seen > self.policy.lease_seconds else row.state,
                "last_seen": iso(row.last_seen),
                "registered_at": iso(row.registered_at),
                "builds": current.get(row.name, []),
            }
            for row in rows
        ]
