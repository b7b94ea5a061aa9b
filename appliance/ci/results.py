"""An attempt's result, which ends it and its build. Results are keyed by (build, attempt) and the
runner that holds it, so a late runner can never overwrite the attempt that replaced it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from appliance.ci import runners
from appliance.ci.errors import Conflict
from appliance.ci.schema import attempts, builds, find_attempt
from appliance.ci.statuses import BUSY, IDLE, RESULTS, RUNNING
from appliance.db import Database


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


class Results:
    def __init__(self, db: Database):
        self.db = db

    def finish(self, build_id: int, number: int, runner: str, result: Result, now: float) -> bool:
        """Record an attempt's result. True when it changed the build; False for the same
        result sent again by its runner (its answer was lost); Conflict for anything else: the
        attempt was lost, replaced or cancelled, and nothing changes."""
        if result.status not in RESULTS:
            raise ValueError(f"status must be one of {', '.join(RESULTS)}")
        with self.db.write() as conn:
            attempt = find_attempt(conn, build_id, number)
            if attempt.runner != runner:
                raise Conflict(f"attempt {number} of build {build_id} belongs to runner {attempt.runner}")
            if attempt.status != RUNNING:
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
                .where(attempts.c.id == attempt.id, attempts.c.status == RUNNING)
                .values(**values, command_seconds=result.command_seconds, lease_expires=None)
            )
            conn.execute(
                update(builds)
                .where(builds.c.id == build_id, builds.c.status == RUNNING, builds.c.attempts == number)
                .values(**values)
            )
            still_busy = conn.execute(
                select(attempts.c.id).where(attempts.c.runner == runner, attempts.c.status == RUNNING)
            ).first()
            runners.mark(conn, runner, now, BUSY if still_busy else IDLE)
            return True
