"""Claims and leases: a build's attempt is the unit of a lease. A runner claims the oldest queued
build and holds it while it renews the lease by heartbeat; an attempt whose lease runs out, or that
a restarted runner no longer holds, is lost, and its build goes back to the front of the queue as
a new attempt until ``max_attempts`` is reached, then ends as error with the reason.

A claim is one conditional UPDATE (``... WHERE status = 'queued'``) so that two runners asking at
once can never both win, and losing that race is an ordinary answer, not an error.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from appliance.ci import runners
from appliance.ci.errors import NotFound
from appliance.ci.repos import RepoCatalog
from appliance.ci.schema import attempts, builds, find_attempt, iso, repos
from appliance.ci.statuses import BUSY, CANCELLED, ERROR, IDLE, LOST, QUEUED, RUNNING
from appliance.db import Database

Held = set[tuple[int, int]]  # (build, attempt) pairs a runner says it holds


class Leases:
    def __init__(self, db: Database, catalog: RepoCatalog, max_attempts: int, lease_seconds: float):
        self.db = db
        self.catalog = catalog
        self.max_attempts = max_attempts
        self.lease_seconds = lease_seconds

    def claim(self, runner: str, now: float) -> tuple[int, int] | None:
        """Lease the oldest queued build to ``runner``: (build id, attempt number), or None."""
        with self.db.write() as conn:
            candidates = conn.execute(
                select(builds.c.id)
                .join(repos, repos.c.id == builds.c.repo_id)
                .where(builds.c.status == QUEUED, self.catalog.is_configured())
                .order_by(builds.c.queue_position, builds.c.id)
                .limit(8)
            ).scalars()
            for build_id in list(candidates):
                won = conn.execute(
                    update(builds)
                    .where(builds.c.id == build_id, builds.c.status == QUEUED)
                    .values(
                        status=RUNNING,
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
                        status=RUNNING,
                        lease_expires=now + self.lease_seconds,
                        log_bytes=0,
                        started_at=now,
                    )
                )
                runners.mark(conn, runner, now, BUSY)
                return build_id, number
        return None

    def expire(self, now: float) -> list[int]:
        """End every attempt whose lease ran out; returns the builds that changed."""
        with self.db.write() as conn:
            expired = conn.execute(
                select(attempts).where(attempts.c.status == RUNNING, attempts.c.lease_expires < now)
            ).all()
            for attempt in expired:
                silent_since = iso(attempt.lease_expires - self.lease_seconds)
                why = f"runner {attempt.runner} stopped renewing its lease at {silent_since}"
                self._lose(conn, attempt, why, now)
        return [attempt.build_id for attempt in expired]

    def _lose(self, conn: Connection, attempt: Any, why: str, now: float) -> None:
        conn.execute(
            update(attempts)
            .where(attempts.c.id == attempt.id, attempts.c.status == RUNNING)
            .values(status=LOST, reason=why, lease_expires=None, finished_at=now)
        )
        build = conn.execute(select(builds).where(builds.c.id == attempt.build_id)).one()
        if build.status != RUNNING or build.attempts != attempt.number:
            return
        limit = self.max_attempts
        if attempt.number < limit:
            front = conn.execute(
                select(func.min(builds.c.queue_position)).where(builds.c.status == QUEUED)
            ).scalar()
            conn.execute(
                update(builds)
                .where(builds.c.id == build.id, builds.c.status == RUNNING)
                .values(
                    status=QUEUED,
                    queue_position=(front - 1) if front is not None else 0,
                    runner=None,
                    reason=f"attempt {attempt.number} of {limit} lost ({why}); queued again first",
                )
            )
        else:
            conn.execute(
                update(builds)
                .where(builds.c.id == build.id, builds.c.status == RUNNING)
                .values(status=ERROR, finished_at=now, reason=f"all {limit} attempts lost; the last: {why}")
            )

    def give_back(self, build_id: int, number: int, why: str, now: float) -> None:
        """End an attempt that never reached its runner (its request closed as the build was
        claimed): the build goes back to the front of the queue, as for a lost lease."""
        with self.db.write() as conn:
            attempt = find_attempt(conn, build_id, number)
            if attempt.status == RUNNING:
                self._lose(conn, attempt, why, now)

    def grant_grace(self, now: float) -> None:
        """At server start: runners could not renew leases while the server was away, so every
        running attempt gets a full lease from now rather than being declared lost at once."""
        with self.db.write() as conn:
            conn.execute(
                update(attempts)
                .where(attempts.c.status == RUNNING, attempts.c.lease_expires < now + self.lease_seconds)
                .values(lease_expires=now + self.lease_seconds)
            )

    def next_expiry(self) -> float | None:
        with self.db.read() as conn:
            return conn.execute(
                select(func.min(attempts.c.lease_expires)).where(attempts.c.status == RUNNING)
            ).scalar()

    # --- what a runner says it holds ------------------------------------------------------------

    def register_runner(
        self, name: str, labels: list[str], capacity: int, held: Held, now: float
    ) -> list[int]:
        """Record a (re)starting runner. Attempts the server thinks it runs but it does not hold
        any more (it restarted) are lost now instead of at their lease's end. Returns the
        builds that changed."""
        with self.db.write() as conn:
            runners.record(conn, name, labels, capacity, now)
            running = conn.execute(
                select(attempts).where(attempts.c.runner == name, attempts.c.status == RUNNING)
            ).all()
            forgotten = [a for a in running if (a.build_id, a.number) not in held]
            for attempt in forgotten:
                self._lose(conn, attempt, f"runner {name} restarted without it", now)
            self._renew(conn, name, held, now)
            runners.mark(conn, name, now, BUSY if len(running) > len(forgotten) else IDLE)
        return [attempt.build_id for attempt in forgotten]

    def heartbeat(self, name: str, held: Held, now: float) -> dict[tuple[int, int], str]:
        """Renew the leases of what the runner holds; for each: continue, cancel or lost."""
        with self.db.write() as conn:
            if not runners.exists(conn, name):
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
                actions[key] = "cancel" if status == CANCELLED else "lost"
            runners.mark(conn, name, now, BUSY if renewed else IDLE)
            return actions

    def _renew(self, conn: Connection, name: str, held: Held, now: float) -> Held:
        renewed = set()
        for build_id, number in held:
            if conn.execute(
                update(attempts)
                .where(
                    attempts.c.build_id == build_id,
                    attempts.c.number == number,
                    attempts.c.runner == name,
                    attempts.c.status == RUNNING,
                )
                .values(lease_expires=now + self.lease_seconds)
            ).rowcount:
                renewed.add((build_id, number))
        return renewed
