"""The one database: SQLite in WAL mode under the data directory, with numbered migrations.

SQL goes through SQLAlchemy Core so that a large installation can move to PostgreSQL by changing
the URL. Writes are serialised in the process (one writer connection, ``BEGIN IMMEDIATE`` on
SQLite) so that concurrent requests never fail on a busy database; reads run on their own
connections. The
migrations, each with its own frozen SQL, are in ``appliance/migrations/``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text

from appliance.files import private_directory, private_file
from appliance.migrations import MIGRATIONS


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine: Engine = create_engine(url)
        self._write_lock = threading.Lock()
        self._writer: Connection | None = None  # kept open: a checkout per write cost a tenth of it
        if self.engine.dialect.name == "sqlite":
            _use_sqlite_transactions(self.engine)

    @classmethod
    def in_data_dir(cls, path: Path) -> Database:
        private_directory(path.parent)
        # Made 0600 before SQLite opens it: SQLite gives the -wal and -shm files the mode of the
        # database file.
        private_file(path)
        return cls(f"sqlite:///{path}")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction at a time; committed on success, rolled back on any exception."""
        with self._write_lock:
            if self._writer is None:
                self._writer = self.engine.connect().execution_options(immediate=True)
            with self._writer.begin():
                yield self._writer

    def migrate(self) -> int:
        """Apply the migrations not applied yet, each in its own transaction; returns the version."""
        with self.write() as conn:
            conn.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS schema_migrations "
                    "(version INTEGER PRIMARY KEY, applied_at VARCHAR(40) NOT NULL)"
                )
            )
            current = conn.execute(text("SELECT MAX(version) FROM schema_migrations")).scalar() or 0
        for version, migration in enumerate(MIGRATIONS[current:], start=current + 1):
            with self.write() as conn:
                migration(conn)
                conn.execute(
                    text("INSERT INTO schema_migrations (version, applied_at) VALUES (:v, :t)"),
                    {"v": version, "t": datetime.now(UTC).isoformat()},
                )
        return len(MIGRATIONS)

    def schema_version(self) -> int:
        with self.read() as conn:
            return conn.execute(text("SELECT MAX(version) FROM schema_migrations")).scalar() or 0

    def instance_id(self) -> str:
        with self.read() as conn:
            return conn.execute(text("SELECT value FROM meta WHERE key = 'instance_id'")).scalar_one()

    def close(self) -> None:
        with self._write_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
        self.engine.dispose()


def _use_sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not the sqlite3 module, decide when a transaction begins (its documented
    recipe), so that writers can take the lock up front with BEGIN IMMEDIATE."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # In WAL mode NORMAL syncs at checkpoints, not at each commit: a crash of the process
        # loses nothing, a power cut at most the last transactions, and the database stays
        # whole either way; it spares an SD card a flush per report (docs/performance.md).
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
