"""The read model: every machine, run, scenario and test as the seed's read endpoints, the
``progress.*`` events and the pages show them, the one place each is read, so they agree.

A run's status is its tests' roll-up (``statuses.roll_up``), computed on read, and shown as
``interrupted`` while it is unfinished and its machine has sent nothing for ``interrupted_after``
seconds: decided on read, so a report that comes after all undoes it (``interruptions.py`` only
announces the moment a run crosses that line).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select

from appliance.db import Database
from appliance.progress.errors import NotFound
from appliance.progress.schema import machines, runs, scenarios, tests
from appliance.progress.statuses import INTERRUPTED, ONGOING, PRIORITY, roll_up


def iso(at: float | None, offset: int | None) -> str | None:
    """A time in the reporting machine's own zone; null for one no ISO 8601 date can show."""
    if at is None or not math.isfinite(at):
        return None
    try:
        zone = timezone(timedelta(seconds=offset)) if offset is not None else UTC
        return datetime.fromtimestamp(at, zone).isoformat()
    except (ValueError, OverflowError, OSError):
        return None


# Built once: a report reads these on every request, and building a statement costs more than
# running it. The counts are one GROUP BY on the (run_id, status) index, not every test's row.
_RUN_WITH_MACHINE = (
    select(runs.c.id, runs.c.machine_id, runs.c.last_report_at, machines.c.name.label("machine"))
    .join(machines)
    .where(runs.c.id == bindparam("run_id"))
)
_COUNTS = (
    select(tests.c.status, func.count()).where(tests.c.run_id == bindparam("run_id")).group_by(tests.c.status)
)


class Views:
    def __init__(self, db: Database, interrupted_after: float, clock: Callable[[], float]):
        self.db = db
        self.interrupted_after = interrupted_after
        self.clock = clock

    def shown_status(self, statuses: list[str], last_report_at: float) -> str:
        status = roll_up(statuses)
        if status in ONGOING and self.clock() - last_report_at >= self.interrupted_after:
            return INTERRUPTED
        return status

    def run_summary(self, conn: Connection, run_id: int) -> dict[str, Any]:
        """What ``progress.run`` carries: the counts per status, the roll-up, done of total."""
        run = conn.execute(_RUN_WITH_MACHINE, {"run_id": run_id}).one()
        return self.summary(conn, run.id, run.machine, run.machine_id, run.last_report_at)

    def summary(
        self, conn: Connection, run_id: int, machine: str, machine_id: int, last_report_at: float
    ) -> dict[str, Any]:
        """``run_summary`` for a caller that already knows the run's machine and last report."""
        present: dict[str, int] = dict(conn.execute(_COUNTS, {"run_id": run_id}).all())
        return {
            "machine": machine,
            "machine_id": machine_id,
            "run": run_id,
            "counts": {status: present.get(status, 0) for status in PRIORITY},
            "status": self.shown_status(list(present), last_report_at),
            "done": sum(count for status, count in present.items() if status not in ONGOING),
            "total": sum(present.values()),
        }

    def received(self) -> dict[str, Any]:
        """What the ingest API has been sent, for ``/metrics``: machines, dry runs (a run each),
        and tests per stored status (every status, none left out). Rows are never deleted, so
        the runs only grow. One scan of the tests' (run, status) index, not of their rows."""
        with self.db.read() as conn:
            machine_count = conn.execute(select(func.count()).select_from(machines)).scalar_one()
            run_count = conn.execute(select(func.count()).select_from(runs)).scalar_one()
            present = dict(conn.execute(select(tests.c.status, func.count()).group_by(tests.c.status)).all())
        return {
            "machines": machine_count,
            "runs": run_count,
            "tests": {status: present.get(status, 0) for status in PRIORITY},
        }

    def machines(self, page: int, page_size: int) -> dict[str, Any]:
        """The seed's ``/tm_api/machines/``: each machine with its last run's status."""
        with self.db.read() as conn:
            count = conn.execute(select(func.count()).select_from(machines)).scalar_one()
            rows = conn.execute(
                select(machines).order_by(machines.c.id).limit(page_size).offset((page - 1) * page_size)
            ).all()
            results = [
                {
                    "pk": row.id,
                    "machine_name": row.name,
                    "get_last_master_scenario_status": self._last_status(conn, row.id),
                    "absolute_url": f"/progress/machines/{row.id}",
                }
                for row in rows
            ]
        return paginated(results, count, page, page_size)

    def _last_status(self, conn: Connection, machine_id: int) -> str:
        run_id = latest_run(conn, machine_id)
        return self.run_summary(conn, run_id)["status"] if run_id else "not-available"

    def machine_last_data(self, machine_id: int) -> dict[str, Any]:
        """The seed's ``/tm_api/machine_last_data/<pk>/``: the machine's latest run as a tree."""
        with self.db.read() as conn:
            machine = self._machine(conn, machine_id)
            run_id = latest_run(conn, machine_id)
            last = self._run_tree(conn, run_id) if run_id else None
        return {"machine_name": machine.name, "last_master_scenario": last}

    def _run_tree(self, conn: Connection, run_id: int) -> dict[str, Any]:
        run = conn.execute(select(runs).where(runs.c.id == run_id)).one()
        summary = self.run_summary(conn, run_id)
        grouped = scenarios_of(conn, run_id)
        test_rows = [test for _, own in grouped for test in own]
        tree = [
            {
                "file_name": scenario.file_name,
                "tests": [{"file_name": t.file_name, "status": t.status, "pk": t.id} for t in own],
                "status": roll_up(test.status for test in own),
                "pk": scenario.id,
            }
            for scenario, own in grouped
        ]
        started = [(t.started_at, t.started_offset) for t in test_rows if t.started_at is not None]
        stopped = [(t.stopped_at, t.stopped_offset) for t in test_rows if t.stopped_at is not None]
        start = min(started, default=(None, None))
        stop = max(stopped, default=(None, None)) if summary["status"] not in ONGOING else (None, None)
        now = self.clock()
        return {
            "pk": run.id,
            "file_name": run.file_name,
            "timestamp_start": iso(*start),
            "started_ago": now - start[0] if start[0] is not None else None,
            "timestamp_stop": iso(*stop),
            "finished_ago": now - stop[0] if stop[0] is not None else None,
            "duration": stop[0] - start[0] if None not in (start[0], stop[0]) else None,
            "status": summary["status"],
            "tests_statistics": summary["counts"],
            "tests_count": summary["total"],
            "scenarios_count": len(tree),
            "scenarios": tree,
            "dryrundata": run.id,
            "done": summary["done"],
            "last_report_at": iso(run.last_report_at, run.timestamp_offset),
        }

    def machine_runs(self, machine_id: int, page: int, page_size: int) -> dict[str, Any]:
        """The seed's ``/tm_api/machine_dry_run_datas/<pk>``: the machine's runs, newest first."""
        with self.db.read() as conn:
            self._machine(conn, machine_id)
            count = conn.execute(
                select(func.count()).select_from(runs).where(runs.c.machine_id == machine_id)
            ).scalar_one()
            rows = conn.execute(
                select(runs)
                .where(runs.c.machine_id == machine_id)
                .order_by(runs.c.id.desc())
                .limit(page_size)
                .offset((page - 1) * page_size)
            ).all()
            results = []
            for run in rows:
                summary = self.run_summary(conn, run.id)
                results.append(
                    {
                        "pk": run.id,
                        "machine": machine_id,
                        "timestamp": iso(run.timestamp, run.timestamp_offset),
                        "scenarios": conn.execute(
                            select(func.count()).select_from(scenarios).where(scenarios.c.run_id == run.id)
                        ).scalar_one(),
                        "tests": summary["total"],
                        "tests_status": summary["status"],
                        "absolute_url": f"/progress/runs/{run.id}",
                    }
                )
        return paginated(results, count, page, page_size)

    def script(self, kind: str, pk: int) -> dict[str, Any]:
        """The seed's ``/tm_api/test|scenario|master_scenario/<pk>``: a script and its times."""
        table = {"test": tests, "scenario": scenarios, "master_scenario": runs}[kind]
        with self.db.read() as conn:
            row = conn.execute(select(table).where(table.c.id == pk)).first()
            if row is None:
                raise NotFound(f"no {kind.replace('_', ' ')} {pk}")
            if kind == "test":
                times = {
                    "timestamp_start": iso(row.started_at, row.started_offset),
                    "timestamp_stop": iso(row.stopped_at, row.stopped_offset),
                    "status": row.status,
                }
            else:
                tree = self._run_tree(conn, row.id if kind == "master_scenario" else row.run_id)
                shown = tree["scenarios"] if kind == "scenario" else [tree]
                own = next(item for item in shown if item["pk"] == pk)
                times = {
                    "timestamp_start": tree["timestamp_start"],
                    "timestamp_stop": tree["timestamp_stop"],
                    "status": own["status"],
                }
        return {"file_name": row.file_name, "file_path": row.file_path, "script": row.script, **times}

    @staticmethod
    def _machine(conn: Connection, machine_id: int) -> Row:
        row = conn.execute(select(machines).where(machines.c.id == machine_id)).first()
        if row is None:
            raise NotFound(f"no machine {machine_id}")
        return row


def scenarios_of(conn: Connection, run_id: int) -> list[tuple[Row, list[Row]]]:
    """A run's scenarios in order, each with its tests in order."""
    test_rows = conn.execute(select(tests).where(tests.c.run_id == run_id).order_by(tests.c.position)).all()
    scenario_rows = conn.execute(
        select(scenarios).where(scenarios.c.run_id == run_id).order_by(scenarios.c.position)
    )
    return [(scenario, [t for t in test_rows if t.scenario_id == scenario.id]) for scenario in scenario_rows]


def latest_run(conn: Connection, machine_id: int) -> int | None:
    return conn.execute(
        select(runs.c.id).where(runs.c.machine_id == machine_id).order_by(runs.c.id.desc()).limit(1)
    ).scalar()


def paginated(results: list, count: int, page: int, page_size: int) -> dict[str, Any]:
    """The seed's page (Django REST framework's, with its extra fields)."""
    total_pages = max(1, math.ceil(count / page_size))
    return {
        "page_size": page_size,
        "count": count,
        "page_number": page,
        "total_pages": total_pages,
        "has_previous": page > 1,
        "previous_page_number": page - 1 if page > 1 else None,
        "has_next": page < total_pages,
        "next_page_number": page + 1 if page < total_pages else None,
        "results": results,
    }


# --- the pages under /progress and their JSON twins (/api/progress/...) ---------------------------
