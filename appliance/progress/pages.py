"""What the ``/progress`` pages and their JSON twins show: the machines overview, a machine's
current run with its history, a run with its scripts. Built on the read model of the seed's API
(``views.py``), so that the pages and ``/tm_api/`` agree."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, select

from appliance.progress.errors import NotFound
from appliance.progress.schema import machines, runs
from appliance.progress.statuses import roll_up
from appliance.progress.views import Views, iso, scenarios_of

HISTORY = 50  # the runs a machine's page lists, newest first


class PageViews:
    """What each page under ``/progress`` shows, which its JSON twin answers as is."""

    def __init__(self, views: Views):
        self.views = views

    def overview(self) -> dict[str, Any]:
        """``/progress``: every machine and its latest run, done of total."""
        with self.views.db.read() as conn:
            rows = conn.execute(select(machines).order_by(machines.c.id)).all()
            return {"machines": [self._machine(conn, row, brief=True) for row in rows]}

    def machine(self, machine_id: int) -> dict[str, Any]:
        """``/progress/machines/<pk>``: the latest run as a tree, and the machine's runs."""
        with self.views.db.read() as conn:
            return self._machine(conn, Views._machine(conn, machine_id), brief=False)

    def run(self, run_id: int) -> dict[str, Any]:
        """``/progress/runs/<pk>``: a run as a tree with every script's source."""
        with self.views.db.read() as conn:
            if conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is None:
                raise NotFound(f"no run {run_id}")
            return self._run(conn, run_id, scripts=True)

    def _machine(self, conn: Connection, row: Row, brief: bool) -> dict[str, Any]:
        run_ids = (
            conn.execute(
                select(runs.c.id)
                .where(runs.c.machine_id == row.id)
                .order_by(runs.c.id.desc())
                .limit(1 if brief else HISTORY)
            )
            .scalars()
            .all()
        )
        found = {"pk": row.id, "machine_name": row.name, "absolute_url": f"/progress/machines/{row.id}"}
        if brief:
            return {**found, "last_run": self._brief(conn, run_ids[0]) if run_ids else None}
        current = self._run(conn, run_ids[0], scripts=False) if run_ids else None
        return {**found, "current_run": current, "runs": [self._brief(conn, pk) for pk in run_ids]}

    def _brief(self, conn: Connection, run_id: int) -> dict[str, Any]:
        run = conn.execute(select(runs).where(runs.c.id == run_id)).one()
        summary = self.views.summary(conn, run.id, "", run.machine_id, run.last_report_at)
        return {
            "pk": run.id,
            "timestamp": iso(run.timestamp, run.timestamp_offset),
            "status": summary["status"],
            "done": summary["done"],
            "total": summary["total"],
            "counts": {status: count for status, count in summary["counts"].items() if count},
            "last_report_at": iso(run.last_report_at, run.timestamp_offset),
            "absolute_url": f"/progress/runs/{run.id}",
        }

    def _run(self, conn: Connection, run_id: int, scripts: bool) -> dict[str, Any]:
        run = conn.execute(select(runs).where(runs.c.id == run_id)).one()
        machine = conn.execute(select(machines).where(machines.c.id == run.machine_id)).one()

        def source(row: Row) -> dict[str, Any]:
            return {"script": row.script} if scripts else {}

        tree = []
        for scenario, own in scenarios_of(conn, run_id):
            tree.append(
                {
                    "pk": scenario.id,
                    "file_name": scenario.file_name,
                    "file_path": scenario.file_path,
                    "status": roll_up(test.status for test in own),
                    **source(scenario),
                    "tests": [
                        {
                            "pk": test.id,
                            "file_name": test.file_name,
                            "file_path": test.file_path,
                            "status": test.status,
                            "timestamp_start": iso(test.started_at, test.started_offset),
                            "timestamp_stop": iso(test.stopped_at, test.stopped_offset),
                            **source(test),
                        }
                        for test in own
                    ],
                }
            )
        return {
            **self._brief(conn, run_id),
            "machine": {
                "pk": machine.id,
                "machine_name": machine.name,
                "absolute_url": f"/progress/machines/{machine.id}",
            },
            "file_name": run.file_name,
            "file_path": run.file_path,
            **source(run),
            "scenarios": tree,
        }
