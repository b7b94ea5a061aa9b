"""Version 1: the instance's identity."""

import uuid

from sqlalchemy import Connection, text


def apply(conn: Connection) -> None:
    conn.execute(text("CREATE TABLE meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)"))
    conn.execute(text("INSERT INTO meta (key, value) VALUES ('instance_id', :id)"), {"id": uuid.uuid4().hex})
