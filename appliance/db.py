"""The one database: SQLite in WAL mode under the data directory, with numbered migrations.

SQL goes through SQLAlchemy Core so that a large installation can move to PostgreSQL by changing
the URL. Writes are serialised in the process (one writer, ``BEGIN IMMEDIATE`` on SQLite) so that
concurrent requests never fail on a busy database; reads run on their own connections.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text

Migration = Callable[[Connection], None]


def _create_meta(conn: Connection) -> None:
    conn.execute(text("CREATE TABLE meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)"))
    conn.execute(text("INSERT INTO meta (key, value) VALUES ('instance_id', :id)"), {"id": uuid.uuid4().hex})


def _create_ci_tables(conn: Connection) -> None:
    from appliance.ci.schema import create_tables

    create_tables(conn)


# Append only: a released migration never changes, a new one gets the next number.
MIGRATIONS: list[Migration] = [_create_meta, _create_ci_tables]


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine: Engine = create_engine(url)
        self._write_lock = threading.Lock()
        if self.engine.dialect.name == "sqlite":
            _use_sqlite_transactions(self.engine)

    @classmethod
    def in_data_dir(cls, path: Path) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path}")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction at a time; committed on success, rolled back on any exception."""
        with self._write_lock, self.engine.connect() as conn:
            conn = conn.execution_options(immediate=True)
            with conn.begin():
                yield conn

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
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
