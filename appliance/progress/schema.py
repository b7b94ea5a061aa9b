"""The progress tracker's tables. A run is what the seed called a dry run and its master scenario
(one row, one id); its scenarios and tests keep the order the dry run listed them in
(``position``), which is the order tests of the same file are consumed in.

Times are seconds since the epoch (UTC); each reported time keeps the offset of the machine's
clock beside it (``*_offset``, seconds east of UTC), so a page can show the machine's own time.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text

# What queries use. The migrations (appliance/migrations/) create the tables from their own frozen
# SQL; a change here needs a new migration, which tests/test_migrations.py asks for.
metadata = MetaData()

machines = Table(
    "progress_machines",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("created_at", Float, nullable=False),
)

runs = Table(
    "progress_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("machine_id", Integer, ForeignKey("progress_machines.id"), nullable=False),
    Column("file_name", String(256), nullable=False),
    Column("file_path", String(1024), nullable=False),
    Column("script", Text, nullable=False),
    Column("timestamp", Float, nullable=False),
    Column("timestamp_offset", Integer, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("last_report_at", Float, nullable=False),
    Index("ix_progress_runs_machine", "machine_id", "id"),
)

scenarios = Table(
    "progress_scenarios",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("progress_runs.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("file_name", String(256), nullable=False),
    Column("file_path", String(1024), nullable=False),
    Column("script", Text, nullable=False),
    Index("ix_progress_scenarios_run", "run_id", "position"),
)

tests = Table(
    "progress_tests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("progress_runs.id"), nullable=False),
    Column("scenario_id", Integer, ForeignKey("progress_scenarios.id"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("file_name", String(256), nullable=False),
    Column("file_path", String(1024), nullable=False),
    Column("script", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", Float),
    Column("started_offset", Integer),
    Column("stopped_at", Float),
    Column("stopped_offset", Integer),
    # A start or stop looks a test up by its run, file and status; the scenario lists its own;
    # a report finds the run's running (or ongoing) tests and counts its tests per status.
    Index("ix_progress_tests_match", "run_id", "file_path", "file_name", "status", "position"),
    Index("ix_progress_tests_status", "run_id", "status"),
    Index("ix_progress_tests_scenario", "scenario_id", "position"),
)
