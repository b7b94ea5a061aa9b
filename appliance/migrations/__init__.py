"""The numbered migrations: one module per schema version, applied in order by ``Database.migrate``.

Each migration holds its own frozen definitions as literal SQL, never the live ``Table`` objects
that queries use (``appliance/ci/schema.py``, ``appliance/progress/schema.py``), so that editing
those can never change what a fresh install gets. ``tests/test_migrations.py`` checks that a
database upgraded from every version equals a fresh one, and that the live tables match what the
migrations make.

A released migration never changes. To change the schema:

1. Add ``mNNNN_<what>.py`` with the next number and an ``apply(conn)`` that runs literal SQL:
   ``CREATE TABLE``, ``ALTER TABLE ... ADD COLUMN``, ``CREATE INDEX``, and whatever moves the data.
   ``CreateTable(table).compile(dialect=sqlite.dialect())`` prints a changed table's DDL.
2. Append its ``apply`` to ``MIGRATIONS`` below.
3. Change the live ``Table`` to match.

Each migration runs in its own transaction (SQLite's DDL is transactional) and is recorded in
``schema_migrations``. SQLite's ALTER TABLE only adds, renames and drops columns; anything else
rebuilds the table, and rebuilding one that others reference needs foreign keys off, which
``Database.migrate`` does not do yet (https://www.sqlite.org/lang_altertable.html).
"""

from collections.abc import Callable

from sqlalchemy import Connection

from appliance.migrations import m0001_meta, m0002_ci, m0003_progress, m0004_progress_status_index

Migration = Callable[[Connection], None]

# Version n is MIGRATIONS[n - 1].
MIGRATIONS: list[Migration] = [
    m0001_meta.apply,
    m0002_ci.apply,
    m0003_progress.apply,
    m0004_progress_status_index.apply,
]
