"""Reports that arrive while another batch is being written are written together, in one
transaction: each still gets its own answer or refusal, and a refused one changes nothing."""

from __future__ import annotations

import threading

from appliance.progress import protocol
from appliance.progress.errors import Conflict
from tests.conftest import wait_until
from tests.progress.conftest import dry_run, start, stop


def test_reports_waiting_together_are_written_in_one_batch_each_answered(app, machine):
    tracker = app.extensions["appliance"].progress
    bus = app.extensions["appliance"].bus
    run = machine.post("/tm_api/dry_run/", json=dry_run()).get_json()["run"]
    published = bus.subscribe(["progress"])
    reports = [
        protocol.start_report(start("01_02_test_lamp.py")),
        protocol.stop_report(stop("01_02_test_lamp.py", "failed")),
        protocol.stop_report(stop("01_01_test_lamp.py", "passed")),  # never started: refused
        protocol.start_report(start("01_01_test_door.py", folder="02_feature_door")),
    ]
    outcomes: dict[int, object] = {}

    def send(index: int) -> None:
        try:
            outcomes[index] = tracker.report(reports[index])
        except Conflict as refused:
            outcomes[index] = refused

    with tracker._batch_lock:  # a batch being written: the reports queue behind it, in order
        for index in range(len(reports)):
            threading.Thread(target=send, args=(index,), daemon=True).start()
            wait_until(lambda n=index: len(tracker._waiting) == n + 1, what=f"report {index} waiting")
    wait_until(lambda: len(outcomes) == len(reports), what="every report answered")

    assert outcomes[0]["status"] == "running" and outcomes[1]["status"] == "failed"
    assert isinstance(outcomes[2], Conflict) and "no running test" in str(outcomes[2])
    assert outcomes[3]["status"] == "running"
    tests = machine.get(f"/api/progress/runs/{run}").get_json()["scenarios"]
    assert [t["status"] for s in tests for t in s["tests"]] == ["waiting", "failed", "waiting", "running"]
    events = [published.get(timeout=1) for _ in range(4)]
    assert [(e.topic, e.data.get("status")) for e in events] == [
        ("progress.test", "running"),
        ("progress.test", "failed"),
        ("progress.test", "running"),
        ("progress.run", "running"),  # one summary of the run, after the whole batch
    ]
    assert events[-1].data["counts"]["failed"] == 1 and events[-1].data["done"] == 1
