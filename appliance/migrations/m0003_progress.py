"""Version 3: the progress tracker's tables (test machines, their runs, scenarios and tests).

Frozen from ``appliance/progress/schema.py`` as SQLAlchemy's ``CreateTable`` wrote it when this
version was released; a later change to those tables is a new migration.
"""

from sqlalchemy import Connection

STATEMENTS = (
    (
        "CREATE TABLE progress_machines (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tname VARCHAR(256) NOT NULL, \n"
        "\tcreated_at FLOAT NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tUNIQUE (name)\n"
        ")"
    ),
    (
        "CREATE TABLE progress_runs (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tmachine_id INTEGER NOT NULL, \n"
        "\tfile_name VARCHAR(256) NOT NULL, \n"
        "\tfile_path VARCHAR(1024) NOT NULL, \n"
        "\tscript TEXT NOT NULL, \n"
        "\ttimestamp FLOAT NOT NULL, \n"
        "\ttimestamp_offset INTEGER NOT NULL, \n"
        "\tcreated_at FLOAT NOT NULL, \n"
        "\tlast_report_at FLOAT NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tFOREIGN KEY(machine_id) REFERENCES progress_machines (id)\n"
        ")"
    ),
    "CREATE INDEX ix_progress_runs_machine ON progress_runs (machine_id, id)",
    (
        "CREATE TABLE progress_scenarios (\n"
        "\tid INTEGER NOT NULL, \n"
        "\trun_id INTEGER NOT NULL, \n"
        "\tposition INTEGER NOT NULL, \n"
        "\tfile_name VARCHAR(256) NOT NULL, \n"
        "\tfile_path VARCHAR(1024) NOT NULL, \n"
        "\tscript TEXT NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tFOREIGN KEY(run_id) REFERENCES progress_runs (id)\n"
        ")"
    ),
    "CREATE INDEX ix_progress_scenarios_run ON progress_scenarios (run_id, position)",
    (
        "CREATE TABLE progress_tests (\n"
        "\tid INTEGER NOT NULL, \n"
        "\trun_id INTEGER NOT NULL, \n"
        "\tscenario_id INTEGER NOT NULL, \n"
        "\tposition INTEGER NOT NULL, \n"
        "\tfile_name VARCHAR(256) NOT NULL, \n"
        "\tfile_path VARCHAR(1024) NOT NULL, \n"
        "\tscript TEXT NOT NULL, \n"
        "\tstatus VARCHAR(16) NOT NULL, \n"
        "\tstarted_at FLOAT, \n"
        "\tstarted_offset INTEGER, \n"
        "\tstopped_at FLOAT, \n"
        "\tstopped_offset INTEGER, \n"
        "\tPRIMARY KEY (id), \n"
        "\tFOREIGN KEY(run_id) REFERENCES progress_runs (id), \n"
        "\tFOREIGN KEY(scenario_id) REFERENCES progress_scenarios (id)\n"
        ")"
    ),
    "CREATE INDEX ix_progress_tests_match ON progress_tests (run_id, file_path, file_name, status, position)",
    "CREATE INDEX ix_progress_tests_scenario ON progress_tests (scenario_id, position)",
)


def apply(conn: Connection) -> None:
    for statement in STATEMENTS:
        conn.exec_driver_sql(statement)
