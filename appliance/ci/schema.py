"""The CI's tables, and the JSON shape of a build and of an attempt that every client sees.

Times are seconds since the epoch (leases must survive a restart, so no monotonic clock here);
JSON shows them as ISO 8601 with their zone.

Rendering is total: whatever a row holds (a value written before the protocol checked ranges, or
by hand), a time no ``datetime`` can hold and a number JSON cannot carry (NaN, an infinity) are
shown as null, so that one bad row can never break every page that lists it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)

from appliance.ci.errors import NotFound

# What queries use. The migrations (appliance/migrations/) create the tables from their own frozen
# SQL; a change here needs a new migration, which tests/test_migrations.py asks for.
metadata = MetaData()

repos = Table(
    "ci_repos",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("branch", String(255), nullable=False),
    Column("command", Text, nullable=False),
    Column("updated_at", Float, nullable=False),
)

builds = Table(
    "ci_builds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("repo_id", Integer, ForeignKey("ci_repos.id"), nullable=False),
    Column("commit_sha", String(64), nullable=False),
    Column("branch", String(255), nullable=False),
    Column("author", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("committed_at", Float),
    Column("trigger", String(32), nullable=False),
    Column("command", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("queue_position", Integer),
    Column("attempts", Integer, nullable=False),
    Column("runner", String(64)),
    Column("exit_code", Integer),
    Column("tests", Integer),
    Column("failures", Integer),
    Column("errors", Integer),
    Column("skipped", Integer),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Index("ix_ci_builds_queue", "status", "queue_position"),
    Index("ix_ci_builds_repo", "repo_id", "id"),
    Index("ix_ci_builds_commit", "commit_sha"),
)

attempts = Table(
    "ci_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("build_id", Integer, ForeignKey("ci_builds.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("runner", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("lease_expires", Float),
    Column("exit_code", Integer),
    Column("tests", Integer),
    Column("failures", Integer),
    Column("errors", Integer),
    Column("skipped", Integer),
    Column("command_seconds", Float),
    Column("log_bytes", Integer, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    UniqueConstraint("build_id", "number"),
    Index("ix_ci_attempts_running", "status", "lease_expires"),
)

log_chunks = Table(
    "ci_log_chunks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("build_id", Integer, ForeignKey("ci_builds.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("start_offset", Integer, nullable=False),
    Column("size", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    UniqueConstraint("build_id", "attempt", "start_offset"),
)

runners = Table(
    "ci_runners",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("labels", Text, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Column("registered_at", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
)


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(value, UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None  # None, NaN, an infinity, or beyond the years 1 to 9999


def iso(moment: float | None) -> str | None:
    when = _moment(moment)
    return when.isoformat(timespec="seconds") if when is not None else None


def _number(value: Any) -> int | float | None:
    """A stored number as JSON can carry it."""
    if isinstance(value, int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return None


def _counts(row: Any) -> dict[str, int | float | None] | None:
    if row.tests is None:
        return None
    return {key: _number(getattr(row, key)) for key in ("tests", "failures", "errors", "skipped")}


def _duration(row: Any) -> float | None:
    if _moment(row.started_at) is None or _moment(row.finished_at) is None:
        return None
    return round(row.finished_at - row.started_at, 3)


def build_json(row: Any) -> dict[str, Any]:
    """A build as every client sees it (``row`` joins the repository's name as ``repo``)."""
    return {
        "id": row.id,
        "repo": row.repo,
        "commit": row.commit_sha,
        "short_commit": row.commit_sha[:8],
        "branch": row.branch,
        "author": row.author,
        "message": row.message,
        "committed_at": iso(row.committed_at),
        "trigger": row.trigger,
        "command": row.command,
        "status": row.status,
        "reason": row.reason,
        "attempt": row.attempts,
        "runner": row.runner,
        "exit_code": _number(row.exit_code),
        "counts": _counts(row),
        "created_at": iso(row.created_at),
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "duration_seconds": _duration(row),
    }


def attempt_json(row: Any) -> dict[str, Any]:
    return {
        "number": row.number,
        "runner": row.runner,
        "status": row.status,
        "reason": row.reason,
        "exit_code": _number(row.exit_code),
        "counts": _counts(row),
        "command_seconds": _number(row.command_seconds),
        "log_bytes": row.log_bytes,
        "lease_expires": iso(row.lease_expires),
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "duration_seconds": _duration(row),
    }


_BUILD_COLUMNS = (*builds.c, repos.c.name.label("repo"))


def builds_query():
    return select(*_BUILD_COLUMNS).join(repos, repos.c.id == builds.c.repo_id)


def find_attempt(conn: Connection, build_id: int, number: int) -> Any:
    """Attempt ``number`` of a build, or NotFound."""
    attempt = conn.execute(
        select(attempts).where(attempts.c.build_id == build_id, attempts.c.number == number)
    ).first()
    if attempt is None:
        raise NotFound(f"build {build_id} has no attempt {number}")
    return attempt
