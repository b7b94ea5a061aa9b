"""The runner registry: each runner's name, labels, capacity, whether it is busy, and when it was
last heard of. A runner's attempts and their leases are ``leases.py``; the list that pages show is
``views.py``."""

from __future__ import annotations

import json

from sqlalchemy import Connection, insert, select, update

from appliance.ci.schema import runners
from appliance.ci.statuses import IDLE
from appliance.db import Database


def record(conn: Connection, name: str, labels: list[str], capacity: int, now: float) -> None:
    """A (re)starting runner: registered if new, its labels and capacity replaced if not."""
    row = {"labels": json.dumps(labels), "capacity": capacity, "last_seen": now}
    if exists(conn, name):
        conn.execute(update(runners).where(runners.c.name == name).values(**row))
    else:
        conn.execute(insert(runners).values(name=name, state=IDLE, registered_at=now, **row))


def exists(conn: Connection, name: str) -> bool:
    return conn.execute(select(runners.c.name).where(runners.c.name == name)).first() is not None


def mark(conn: Connection, name: str, now: float, state: str) -> None:
    """Heard of now, and busy or idle."""
    conn.execute(update(runners).where(runners.c.name == name).values(last_seen=now, state=state))


class RunnerRegistry:
    def __init__(self, db: Database):
        self.db = db

    def touch(self, name: str, now: float) -> None:
        """Heard of now (a request for work that found none)."""
        with self.db.write() as conn:
            conn.execute(update(runners).where(runners.c.name == name).values(last_seen=now))

    def known(self, name: str) -> bool:
        with self.db.read() as conn:
            return exists(conn, name)
