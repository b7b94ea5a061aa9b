"""The write side: a machine's dry run, and each test's start and stop, every report one
serialised transaction (``db.write()``), its ``progress.test`` and ``progress.run`` events
published once it is committed. A refused report changes nothing.

The seed's rules: a dry run makes every test ``waiting`` and marks the machine's unfinished tests
of earlier runs ``unknown``; a start takes the first waiting test of that file in the machine's
latest run (so a file listed twice is consumed in order) and marks any other running test of the
run ``unknown``; a stop ends the first running one; a test stopped as ``cancelled`` cancels the
rest of its run. A start or stop that names its ``run`` and ``test`` (ids the dry run answered)
takes exactly that test.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, select, update

from appliance.db import Database
from appliance.events import EventBus
from appliance.progress.errors import Conflict, NotFound
from appliance.progress.interruptions import Interruptions
from appliance.progress.protocol import DryRun, Moment, Report
from appliance.progress.schema import machines, runs, scenarios, tests
from appliance.progress.statuses import CANCELLED, ONGOING, RUNNING, UNKNOWN, WAITING
from appliance.progress.views import Views, iso


@dataclass(eq=False)
class _Pending:
    """A report waiting to be written, then its answer or refusal."""

    report: Report
    answered: bool = False
    answer: dict[str, Any] | None = None
    error: Exception | None = None


class Tracker:
    def __init__(self, db: Database, bus: EventBus, views: Views, clock: Callable[[], float] = time.time):
        self.db = db
        self.bus = bus
        self.views = views
        self.clock = clock
        self.interruptions = Interruptions(db, bus, views, clock)
        self._batch_lock = threading.Lock()  # one batch of reports written at a time
        self._waiting_lock = threading.Lock()
        self._waiting: list[_Pending] = []

    def dry_run(self, spec: DryRun) -> dict[str, Any]:
        now = self.clock()
        with self.db.write() as conn:
            machine_id = conn.execute(
                select(machines.c.id).where(machines.c.name == spec.machine_name)
            ).scalar()
            if machine_id is None:
                machine_id = conn.execute(
                    insert(machines).values(name=spec.machine_name, created_at=now)
                ).inserted_primary_key[0]
            older = conn.execute(
                select(tests.c.id, tests.c.run_id)
                .join(runs, runs.c.id == tests.c.run_id)
                .where(runs.c.machine_id == machine_id, tests.c.status.in_(ONGOING))
            ).all()
            changed = _set_status(conn, [row.id for row in older], UNKNOWN)
            run_id = conn.execute(
                insert(runs).values(
                    machine_id=machine_id,
                    **vars(spec.master),
                    timestamp=spec.timestamp.at,
                    timestamp_offset=spec.timestamp.offset,
                    created_at=now,
                    last_report_at=now,
                )
            ).inserted_primary_key[0]
            position = 0
            for scenario_position, scenario in enumerate(spec.scenarios):
                scenario_id = conn.execute(
                    insert(scenarios).values(
                        run_id=run_id, position=scenario_position, **vars(scenario.script)
                    )
                ).inserted_primary_key[0]
                if scenario.tests:
                    conn.execute(
                        insert(tests),
                        [
                            {
                                "run_id": run_id,
                                "scenario_id": scenario_id,
                                "position": position + offset,
                                "status": WAITING,
                                **vars(test),
                            }
                            for offset, test in enumerate(scenario.tests)
                        ],
                    )
                    position += len(scenario.tests)
            listed = conn.execute(
                select(tests.c.id, tests.c.file_path, tests.c.file_name)
                .where(tests.c.run_id == run_id)
                .order_by(tests.c.position)
            ).all()
            summaries = [self.views.run_summary(conn, r) for r in sorted({row.run_id for row in older})]
            summaries.append(self.views.run_summary(conn, run_id))
        self._publish(changed, summaries)
        self.interruptions.watch()  # the new run may be the next to fall silent
        return {
            "ok": True,
            "machine_name": spec.machine_name,
            "machine": machine_id,
            "run": run_id,
            "tests": [
                {"test": row.id, "file_path": row.file_path, "file_name": row.file_name} for row in listed
            ],
        }

    def close(self) -> None:
        self.interruptions.stop()

    def report(self, report: Report) -> dict[str, Any]:
        """A start (a waiting test becomes running) or a stop (a running test gets its status).

        Reports that arrive while another is being written are written together, in one
        transaction (a group commit): whichever thread takes the batch lock first writes every
        report waiting by then, and the others find theirs answered."""
        pending = _Pending(report)
        with self._waiting_lock:
            self._waiting.append(pending)
        with self._batch_lock:
            if not pending.answered:
                with self._waiting_lock:
                    batch, self._waiting = self._waiting, []
                self._write(batch)
        if pending.error is not None:
            raise pending.error
        return pending.answer

    def report_batch(self, reports: list[Report]) -> list[dict[str, Any] | Exception]:
        """Reports a caller has gathered itself (the server's event loop does), written as one
        batch: each one's answer, or its refusal or the failure, in order."""
        batch = [_Pending(report) for report in reports]
        with self._batch_lock:
            try:
                self._write(batch)
            except Exception:  # noqa: S110 - recorded on every report of the batch, for its caller
                pass
        return [pending.error if pending.error is not None else pending.answer for pending in batch]

    def _write(self, batch: list[_Pending]) -> None:
        """Each report's change, then each touched run's last report and summary, one commit.
        A report refused by ``_match`` has changed nothing (the match is read before any write),
        so it fails alone; a failing write or commit fails the whole batch."""
        now = self.clock()
        events: list[dict[str, Any]] = []
        runs_touched: dict[int, tuple[str, int]] = {}
        try:
            with self.db.write() as conn:
                for pending in batch:
                    try:
                        changed, run_id = self._change(conn, pending, now)
                    except (NotFound, Conflict) as refused:
                        pending.error = refused
                        continue
                    events += changed
                    runs_touched[run_id] = (pending.report.machine_name, changed[0]["machine_id"])
                summaries = []
                for run_id, (machine, machine_id) in runs_touched.items():
                    conn.execute(_TOUCH_RUN, {"run": run_id, "now": now})
                    summaries.append(self.views.summary(conn, run_id, machine, machine_id, now))
        except Exception as failed:
            for pending in batch:
                pending.error = pending.error or failed
            raise
        finally:
            for pending in batch:
                pending.answered = True
        for data in events:
            self.bus.publish("progress.test", data)
        for summary in summaries:
            self.bus.publish("progress.run", summary)
        self.interruptions.reported()

    def _change(self, conn: Connection, pending: _Pending, now: float) -> tuple[list[dict[str, Any]], int]:
        """One report's statements; its answer, and its ``progress.test`` events."""
        report = pending.report
        status = report.status
        expected = WAITING if status == RUNNING else RUNNING
        moment = report.moment or Moment(now, local_offset(now))
        machine_id, test = self._match(conn, report, expected)
        changed: list[Row] = []
        if status == RUNNING:
            changed += conn.execute(_SET_RUN_STATUS, {"run": test.run_id, "old": [RUNNING], "new": UNKNOWN})
            stamp = _START
        else:
            stamp = _STOP
        changed.append(
            conn.execute(
                stamp, {"test_id": test.id, "new": status, "at": moment.at, "offset": moment.offset}
            ).one()
        )
        if status == CANCELLED:  # the seed's rule: a cancelled test cancels the rest of its run
            changed += conn.execute(
                _SET_RUN_STATUS, {"run": test.run_id, "old": list(ONGOING), "new": CANCELLED}
            )
        pending.answer = {"ok": True, "run": test.run_id, "test": test.id, "status": status}
        events = [
            _test_json(row, report.machine_name, machine_id)
            for row in sorted(changed, key=lambda r: r.position)
        ]
        return events, test.run_id

    def _match(self, conn: Connection, report: Report, expected: str) -> tuple[int, Row]:
        """The machine's id and the test a report is about: the one it names, else the first
        ``expected`` one of its file in the machine's latest run."""
        machine = conn.execute(_MACHINE, {"name": report.machine_name}).first()
        if machine is None:
            raise NotFound(f"no machine {report.machine_name!r}: send its dry run first")
        if report.test is not None:
            test = conn.execute(
                _NAMED_TEST, {"machine_id": machine.id, "test": report.test, "run": report.run}
            ).first()
            if test is None:
                raise NotFound(f"no test {report.test} in run {report.run} of {report.machine_name!r}")
            if test.status != expected:
                raise Conflict(f"test {test.id} is {test.status}, not {expected}")
            return machine.id, test
        test = conn.execute(
            _FIRST_OF_FILE,
            {
                "run_id": machine.run_id,
                "file_path": report.file_path,
                "file_name": report.file_name,
                "expected": expected,
            },
        ).first()
        if test is None:
            raise Conflict(
                f"no {expected} test {report.file_name!r} in {report.file_path!r} in the latest run "
                f"({machine.run_id}) of machine {report.machine_name!r}"
            )
        return machine.id, test

    def _publish(self, changed: list[int], summaries: list[dict[str, Any]]) -> None:
        if changed:
            with self.db.read() as conn:
                events = _tests_json(conn, changed)
            for data in events:
                self.bus.publish("progress.test", data)
        for summary in summaries:
            self.bus.publish("progress.run", summary)


def local_offset(at: float) -> int:
    """The server's local zone's offset at ``at``, for a report that sent no time of its own."""
    offset = datetime.fromtimestamp(at).astimezone().utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _set_status(conn: Connection, ids: list[int], status: str) -> list[int]:
    if ids:
        conn.execute(update(tests).where(tests.c.id.in_(ids)).values(status=status))
    return list(ids)


def _tests_json(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    """What ``progress.test`` carries for each of ``ids``, read back."""
    rows = conn.execute(
        select(*_EVENT_COLUMNS, runs.c.machine_id, machines.c.name.label("machine"))
        .join(runs, runs.c.id == tests.c.run_id)
        .join(machines, machines.c.id == runs.c.machine_id)
        .where(tests.c.id.in_(ids))
        .order_by(tests.c.position)
    ).all()
    return [_test_json(row, row.machine, row.machine_id) for row in rows]


def _test_json(row: Row, machine: str, machine_id: int) -> dict[str, Any]:
    """What ``progress.test`` carries: a test's new status and where it belongs."""
    return {
        "machine": machine,
        "machine_id": machine_id,
        "run": row.run_id,
        "scenario": row.scenario_id,
        "test": row.id,
        "file_path": row.file_path,
        "file_name": row.file_name,
        "status": row.status,
        "timestamp_start": iso(row.started_at, row.started_offset),
        "timestamp_stop": iso(row.stopped_at, row.stopped_offset),
    }


# A report's statements, built once (building one costs more than SQLite takes to run it).
_EVENT_COLUMNS = (
    tests.c.id,
    tests.c.run_id,
    tests.c.scenario_id,
    tests.c.position,
    tests.c.file_path,
    tests.c.file_name,
    tests.c.status,
    tests.c.started_at,
    tests.c.started_offset,
    tests.c.stopped_at,
    tests.c.stopped_offset,
)
_MACHINE = select(
    machines.c.id,
    select(func.max(runs.c.id)).where(runs.c.machine_id == machines.c.id).scalar_subquery().label("run_id"),
).where(machines.c.name == bindparam("name"))
_MATCHED = (tests.c.id, tests.c.run_id, tests.c.status)
_NAMED_TEST = (
    select(*_MATCHED)
    .join(runs, runs.c.id == tests.c.run_id)
    .where(
        runs.c.machine_id == bindparam("machine_id"),
        tests.c.id == bindparam("test"),
        tests.c.run_id == bindparam("run"),
    )
)
_FIRST_OF_FILE = (
    select(*_MATCHED)
    .where(
        tests.c.run_id == bindparam("run_id"),
        tests.c.file_path == bindparam("file_path"),
        tests.c.file_name == bindparam("file_name"),
        tests.c.status == bindparam("expected"),
    )
    .order_by(tests.c.position)
    .limit(1)
)
_START = (
    update(tests)
    .where(tests.c.id == bindparam("test_id"))
    .values(status=bindparam("new"), started_at=bindparam("at"), started_offset=bindparam("offset"))
    .returning(*_EVENT_COLUMNS)
)
_STOP = (
    update(tests)
    .where(tests.c.id == bindparam("test_id"))
    .values(status=bindparam("new"), stopped_at=bindparam("at"), stopped_offset=bindparam("offset"))
    .returning(*_EVENT_COLUMNS)
)
_SET_RUN_STATUS = (
    update(tests)
    .where(tests.c.run_id == bindparam("run"), tests.c.status.in_(bindparam("old", expanding=True)))
    .values(status=bindparam("new"))
    .returning(*_EVENT_COLUMNS)
)
_TOUCH_RUN = update(runs).where(runs.c.id == bindparam("run")).values(last_report_at=bindparam("now"))
