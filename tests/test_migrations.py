"""The migrations cannot drift: a database upgraded from any version equals a fresh one, its data
kept, and the live tables that queries use are what the migrations make.

Databases are compared as SQLite's pragmas describe them, not by the text of their CREATE
statements, which ALTER TABLE rewrites.
"""

from __future__ import annotations

import graphlib
import pkgutil
from typing import NamedTuple

import pytest
from sqlalchemy import Connection, create_engine

from appliance import db as db_module
from appliance import migrations
from appliance.ci import schema as ci_schema
from appliance.db import Database
from appliance.migrations import MIGRATIONS
from appliance.progress import schema as progress_schema

# Every Table that queries use, with its module; each capability with tables adds its module here.
LIVE_TABLES = [
    (schema, table) for schema in [ci_schema, progress_schema] for table in schema.metadata.sorted_tables
]


class Column(NamedTuple):
    name: str
    type: str
    not_null: bool
    default: str | None
    primary_key: int  # the position in the primary key, 0 if not in it


class Index(NamedTuple):
    origin: str  # "c" for CREATE INDEX, "u" for a UNIQUE constraint, "pk" for a primary key
    # Only CREATE INDEX names its index: SQLite numbers the others by their place in the table's text.
    name: str
    columns: tuple[str, ...]
    unique: bool
    partial: bool


class ForeignKey(NamedTuple):
    columns: tuple[str, ...]
    table: str
    to: tuple[str, ...]
    on_update: str
    on_delete: str


class Shape(NamedTuple):
    columns: list[Column]
    indexes: list[Index]
    foreign_keys: list[ForeignKey]


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def shape_of(conn: Connection, table: str) -> Shape:
    def pragma(name: str, argument: str):
        return conn.exec_driver_sql(f"PRAGMA {name}({quoted(argument)})").all()

    columns = [
        Column(name, declared, bool(not_null), default, primary_key)
        for _cid, name, declared, not_null, default, primary_key in pragma("table_info", table)
    ]
    indexes = sorted(
        Index(
            origin,
            name if origin == "c" else "",
            tuple(column for _seqno, _cid, column in pragma("index_info", name)),
            bool(unique),
            bool(partial),
        )
        for _seq, name, unique, origin, partial in pragma("index_list", table)
    )
    references: dict[int, list[tuple]] = {}
    for reference, _seq, parent, column, to, on_update, on_delete, _match in pragma(
        "foreign_key_list", table
    ):
        references.setdefault(reference, []).append((parent, column, to, on_update, on_delete))
    foreign_keys = sorted(
        ForeignKey(tuple(r[1] for r in rows), rows[0][0], tuple(r[2] for r in rows), rows[0][3], rows[0][4])
        for rows in references.values()
    )
    return Shape(columns, indexes, foreign_keys)


def table_names(conn: Connection) -> list[str]:
    return (
        conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .scalars()
        .all()
    )


def schema_of(conn: Connection) -> tuple[list[tuple], dict[str, Shape]]:
    """Every object SQLite holds by name (tables, named indexes, views, triggers), and each table's
    shape."""
    objects = conn.exec_driver_sql(
        "SELECT type, name, tbl_name FROM sqlite_master "
        "WHERE name NOT LIKE 'sqlite_autoindex_%' ORDER BY type, name"
    ).all()
    return [tuple(row) for row in objects], {name: shape_of(conn, name) for name in table_names(conn)}


def affinity(declared: str) -> str:
    """SQLite's rules, in their order (https://www.sqlite.org/datatype3.html#determination_of_column_affinity)."""
    declared = declared.upper()
    if "INT" in declared:
        return "INTEGER"
    if any(word in declared for word in ("CHAR", "CLOB", "TEXT")):
        return "TEXT"
    if "BLOB" in declared or not declared:
        return "BLOB"
    if any(word in declared for word in ("REAL", "FLOA", "DOUB")):
        return "REAL"
    return "NUMERIC"


def as_a_table_defines_it(shape: Shape) -> Shape:
    """What a live Table decides: types by affinity, since SQLAlchemy's rendering of a type is not
    the table's (FLOAT and REAL are one), and columns by name, since queries name them."""
    columns = [column._replace(type=affinity(column.type)) for column in shape.columns]
    return shape._replace(columns=sorted(columns))


def sample(table: str, position: int, column: Column) -> object:
    """A value of the column's affinity that says where it belongs, so that a value moved shows."""
    return {
        "INTEGER": position + 1,
        "NUMERIC": position + 1,
        "REAL": position + 0.5,
        "TEXT": f"{table}.{column.name}",
        "BLOB": f"{table}.{column.name}".encode(),
    }[affinity(column.type)]


def write_a_row_in_every_table(conn: Connection) -> None:
    """Every column filled, each foreign key pointing at the row written in its table; none in
    schema_migrations, which ``Database.migrate`` keeps."""
    shapes = {table: shape_of(conn, table) for table in table_names(conn) if table != "schema_migrations"}
    parents = {table: {key.table for key in shape.foreign_keys} for table, shape in shapes.items()}
    written: dict[str, dict[str, object]] = {}
    for table in graphlib.TopologicalSorter(parents).static_order():
        shape = shapes[table]
        row = {column.name: sample(table, position, column) for position, column in enumerate(shape.columns)}
        for key in shape.foreign_keys:
            for column, to in zip(key.columns, key.to, strict=True):
                row[column] = written[key.table][to]
        names, marks = ", ".join(map(quoted, row)), ", ".join("?" * len(row))
        insert = f"INSERT INTO {quoted(table)} ({names}) VALUES ({marks})"  # noqa: S608 - quoted names
        conn.exec_driver_sql(insert, tuple(row.values()))
        written[table] = row


def rows_of(conn: Connection, table: str, columns: list[str]) -> set[tuple]:
    select = f"SELECT {', '.join(map(quoted, columns))} FROM {quoted(table)}"  # noqa: S608 - quoted names
    return {tuple(row) for row in conn.exec_driver_sql(select)}


def every_row(conn: Connection) -> dict[str, tuple[list[str], set[tuple]]]:
    """Each table's columns and rows."""
    contents = {}
    for table in table_names(conn):
        columns = [column.name for column in shape_of(conn, table).columns]
        contents[table] = (columns, rows_of(conn, table, columns))
    return contents


@pytest.fixture
def open_database(tmp_path):
    opened = []

    def open_(name: str) -> Database:
        database = Database.in_data_dir(tmp_path / name / "appliance.db")
        opened.append(database)
        return database

    yield open_
    for database in opened:
        database.close()


def test_each_migration_module_is_listed_once_in_order():
    modules = sorted(module.name for module in pkgutil.iter_modules(migrations.__path__))
    assert [name.split("_")[0] for name in modules] == [f"m{n:04d}" for n in range(1, len(modules) + 1)]
    assert [migration.__module__ for migration in MIGRATIONS] == [
        f"appliance.migrations.{name}" for name in modules
    ]


@pytest.mark.parametrize("version", range(1, len(MIGRATIONS) + 1), ids=lambda version: f"from-{version}")
def test_a_database_upgraded_from_each_version_equals_a_fresh_one(version, open_database, monkeypatch):
    upgraded = open_database("upgraded")
    with monkeypatch.context() as patch:
        patch.setattr(db_module, "MIGRATIONS", MIGRATIONS[:version])
        assert upgraded.migrate() == version
    with upgraded.write() as conn:
        write_a_row_in_every_table(conn)
    with upgraded.read() as conn:
        written = every_row(conn)

    assert upgraded.migrate() == len(MIGRATIONS)
    fresh = open_database("fresh")
    fresh.migrate()
    with upgraded.read() as upgraded_conn, fresh.read() as fresh_conn:
        assert schema_of(upgraded_conn) == schema_of(fresh_conn)
        for table, (columns, rows) in written.items():
            assert rows <= rows_of(upgraded_conn, table, columns), (
                f"{table} lost rows written at version {version}"
            )


@pytest.mark.parametrize(("schema", "table"), LIVE_TABLES, ids=[table.name for _, table in LIVE_TABLES])
def test_each_live_table_is_what_the_migrations_make(schema, table, open_database):
    live = create_engine("sqlite://")
    with live.begin() as conn:
        schema.metadata.create_all(conn)
        defined = as_a_table_defines_it(shape_of(conn, table.name))
    live.dispose()
    migrated = open_database("migrated")
    migrated.migrate()
    with migrated.read() as conn:
        made = as_a_table_defines_it(shape_of(conn, table.name))
    assert made == defined, (
        f"{schema.__name__}.{table.name} is not what the migrations make: "
        "add a migration (appliance/migrations/__init__.py says how)"
    )
