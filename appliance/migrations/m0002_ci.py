"""Version 2: the CI's tables (repositories, runners, builds, their attempts and log chunks).

The SQL is exactly what SQLAlchemy's ``create_all`` made of ``appliance/ci/schema.py`` when this
version was released, tab indents and ", " at line ends included, so that databases made before and
after it was frozen here are the same, down to the text in ``sqlite_master``. Only the order of a
table's indexes there varies, as it did between installs before: ``create_all`` takes them from a
set.
"""

from sqlalchemy import Connection

STATEMENTS = (
    (
        "CREATE TABLE ci_repos (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tname VARCHAR(64) NOT NULL, \n"
        "\turl TEXT NOT NULL, \n"
        "\tbranch VARCHAR(255) NOT NULL, \n"
        "\tcommand TEXT NOT NULL, \n"
        "\tupdated_at FLOAT NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tUNIQUE (name)\n"
        ")"
    ),
    (
        "CREATE TABLE ci_runners (\n"
        "\tname VARCHAR(64) NOT NULL, \n"
        "\tlabels TEXT NOT NULL, \n"
        "\tcapacity INTEGER NOT NULL, \n"
        "\tstate VARCHAR(16) NOT NULL, \n"
        "\tregistered_at FLOAT NOT NULL, \n"
        "\tlast_seen FLOAT NOT NULL, \n"
        "\tPRIMARY KEY (name)\n"
        ")"
    ),
    (
        "CREATE TABLE ci_builds (\n"
        "\tid INTEGER NOT NULL, \n"
        "\trepo_id INTEGER NOT NULL, \n"
        "\tcommit_sha VARCHAR(64) NOT NULL, \n"
        "\tbranch VARCHAR(255) NOT NULL, \n"
        "\tauthor TEXT NOT NULL, \n"
        "\tmessage TEXT NOT NULL, \n"
        "\tcommitted_at FLOAT, \n"
        '\t"trigger" VARCHAR(32) NOT NULL, \n'
        "\tcommand TEXT NOT NULL, \n"
        "\tstatus VARCHAR(16) NOT NULL, \n"
        "\treason TEXT, \n"
        "\tqueue_position INTEGER, \n"
        "\tattempts INTEGER NOT NULL, \n"
        "\trunner VARCHAR(64), \n"
        "\texit_code INTEGER, \n"
        "\ttests INTEGER, \n"
        "\tfailures INTEGER, \n"
        "\terrors INTEGER, \n"
        "\tskipped INTEGER, \n"
        "\tcreated_at FLOAT NOT NULL, \n"
        "\tstarted_at FLOAT, \n"
        "\tfinished_at FLOAT, \n"
        "\tPRIMARY KEY (id), \n"
        "\tFOREIGN KEY(repo_id) REFERENCES ci_repos (id)\n"
        ")"
    ),
    "CREATE INDEX ix_ci_builds_queue ON ci_builds (status, queue_position)",
    "CREATE INDEX ix_ci_builds_repo ON ci_builds (repo_id, id)",
    "CREATE INDEX ix_ci_builds_commit ON ci_builds (commit_sha)",
    (
        "CREATE TABLE ci_attempts (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tbuild_id INTEGER NOT NULL, \n"
        "\tnumber INTEGER NOT NULL, \n"
        "\trunner VARCHAR(64) NOT NULL, \n"
        "\tstatus VARCHAR(16) NOT NULL, \n"
        "\treason TEXT, \n"
        "\tlease_expires FLOAT, \n"
        "\texit_code INTEGER, \n"
        "\ttests INTEGER, \n"
        "\tfailures INTEGER, \n"
        "\terrors INTEGER, \n"
        "\tskipped INTEGER, \n"
        "\tcommand_seconds FLOAT, \n"
        "\tlog_bytes INTEGER NOT NULL, \n"
        "\tstarted_at FLOAT NOT NULL, \n"
        "\tfinished_at FLOAT, \n"
        "\tPRIMARY KEY (id), \n"
        "\tUNIQUE (build_id, number), \n"
        "\tFOREIGN KEY(build_id) REFERENCES ci_builds (id)\n"
        ")"
    ),
    "CREATE INDEX ix_ci_attempts_running ON ci_attempts (status, lease_expires)",
    (
        "CREATE TABLE ci_log_chunks (\n"
        "\tid INTEGER NOT NULL, \n"
        "\tbuild_id INTEGER NOT NULL, \n"
        "\tattempt INTEGER NOT NULL, \n"
        "\tstart_offset INTEGER NOT NULL, \n"
        "\tsize INTEGER NOT NULL, \n"
        "\tdata BLOB NOT NULL, \n"
        "\tPRIMARY KEY (id), \n"
        "\tUNIQUE (build_id, attempt, start_offset), \n"
        "\tFOREIGN KEY(build_id) REFERENCES ci_builds (id)\n"
        ")"
    ),
)


def apply(conn: Connection) -> None:
    for statement in STATEMENTS:
        conn.exec_driver_sql(statement)
