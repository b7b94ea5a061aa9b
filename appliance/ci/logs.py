"""Build logs as bytes with offsets (GitLab's trace ranges): each attempt's log is a run of chunks
in the database. A runner appends at exactly the server's offset, so a resent chunk is never
written twice; a reader asks from an offset and gets the size so far."""

from __future__ import annotations

from sqlalchemy import insert, select, update

from appliance.ci.errors import LogOffsetMismatch, LogTooLarge
from appliance.ci.schema import attempts, find_attempt, log_chunks
from appliance.db import Database


class Logs:
    def __init__(self, db: Database, max_bytes: int):
        self.db = db
        self.max_bytes = max_bytes

    def append(self, build_id: int, number: int, offset: int, data: bytes) -> int:
        """Append at exactly the server's offset (else LogOffsetMismatch with it); the new size."""
        with self.db.write() as conn:
            attempt = find_attempt(conn, build_id, number)
            if offset != attempt.log_bytes:
                raise LogOffsetMismatch(attempt.log_bytes)
            if not data:
                return attempt.log_bytes
            if attempt.log_bytes + len(data) > self.max_bytes + 4096:
                raise LogTooLarge(f"the log would exceed max_log_bytes ({self.max_bytes})")
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

    def size(self, build_id: int, number: int) -> int:
        with self.db.read() as conn:
            return find_attempt(conn, build_id, number).log_bytes

    def read(self, build_id: int, number: int, offset: int, limit: int) -> tuple[bytes, int]:
        """Up to ``limit`` bytes of an attempt's log from ``offset``, and the log's size so far."""
        with self.db.read() as conn:
            size = find_attempt(conn, build_id, number).log_bytes
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
