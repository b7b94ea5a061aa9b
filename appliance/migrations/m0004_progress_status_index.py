"""Version 4: an index on a run's tests by status, for what every start and stop asks: the run's
running tests (a start marks them ``unknown``), its ongoing ones (a cancel), and its counts per
status (the ``progress.run`` summary, one GROUP BY read from the index alone).
"""

from sqlalchemy import Connection

STATEMENTS = ("CREATE INDEX ix_progress_tests_status ON progress_tests (run_id, status)",)


def apply(conn: Connection) -> None:
    for statement in STATEMENTS:
        conn.exec_driver_sql(statement)
