import subprocess
import sys

import pytest
from sqlalchemy import text

from appliance import db as db_module
from appliance.db import Database


@pytest.fixture
def database(tmp_path):
    database = Database.in_data_dir(tmp_path / "sub" / "appliance.db")
    yield database
    database.close()


def test_migrations_run_once_and_are_recorded(database):
    assert database.migrate() == len(db_module.MIGRATIONS)
    first_id = database.instance_id()
    assert database.migrate() == len(db_module.MIGRATIONS)
    assert database.instance_id() == first_id
    with database.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM schema_migrations")).scalar() == len(
            db_module.MIGRATIONS
        )


def test_the_database_is_in_wal_mode(database):
    database.migrate()
    with database.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_a_failed_write_rolls_back(database):
    database.migrate()
    with pytest.raises(RuntimeError), database.write() as conn:
        conn.execute(text("INSERT INTO meta (key, value) VALUES ('k', 'v')"))
        raise RuntimeError("step failed")
    with database.read() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM meta WHERE key = 'k'")).scalar() == 0


def test_a_failed_migration_leaves_the_version_where_it_was(database, monkeypatch):
    def broken(conn):
        conn.execute(text("CREATE TABLE half_done (id INTEGER)"))
        raise RuntimeError("migration bug")

    monkeypatch.setattr(db_module, "MIGRATIONS", [*db_module.MIGRATIONS, broken])
    with pytest.raises(RuntimeError):
        database.migrate()
    assert database.schema_version() == len(db_module.MIGRATIONS) - 1
    with database.read() as conn:
        assert conn.execute(text("SELECT name FROM sqlite_master WHERE name = 'half_done'")).first() is None


def test_the_database_imports_no_capability():
    """The migrations hold their own SQL, so the database needs none of the CI's code."""
    imported = subprocess.run(
        [sys.executable, "-c", "import sys, appliance.db; print(*sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert [name for name in imported if name.startswith("appliance.ci")] == []
