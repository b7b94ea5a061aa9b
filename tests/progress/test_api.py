"""The seed's test machine over HTTP, with the seed's exact payloads: a dry run, then each test's
start and stop; and the read endpoints agree with each other."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.progress.conftest import DIR, dry_run, start, stop
from tests.web.test_errors import assert_error_shape


def last_run(client, machine_id: int) -> dict:
    return client.get(f"/tm_api/machine_last_data/{machine_id}/").get_json()["last_master_scenario"]


def statuses(run: dict) -> list[str]:
    return [test["status"] for scenario in run["scenarios"] for test in scenario["tests"]]


def test_a_dry_run_is_201_with_every_test_waiting_and_its_ids(machine):
    response = machine.post("/tm_api/dry_run/", json=dry_run())
    assert response.status_code == 201
    answer = response.get_json()
    lamp = [test["file_name"] for test in answer["tests"]][:3]
    assert lamp == ["01_01_test_lamp.py", "01_02_test_lamp.py", "01_01_test_lamp.py"]
    run = last_run(machine, answer["machine"])
    assert run["pk"] == answer["run"] and run["status"] == "waiting"
    assert statuses(run) == ["waiting"] * 4
    assert run["tests_count"] == 4 and run["scenarios_count"] == 2


def test_paths_work_with_or_without_the_trailing_slash(machine):
    assert machine.post("/tm_api/dry_run", json=dry_run()).status_code == 201
    assert machine.post("/tm_api/test_start", json=start("01_01_test_lamp.py")).status_code == 202
    assert machine.post("/tm_api/test_stop/", json=stop("01_01_test_lamp.py", "passed")).status_code == 202
    assert machine.get("/tm_api/machines").status_code == 200
    assert machine.get("/tm_api/machine_dry_run_datas/1/").status_code == 200


def test_a_file_listed_twice_is_consumed_in_order(machine):
    machine_id = machine.post("/tm_api/dry_run/", json=dry_run()).get_json()["machine"]
    for status in ("passed", "failed"):
        assert machine.post("/tm_api/test_start/", json=start("01_01_test_lamp.py")).status_code == 202
        assert machine.post("/tm_api/test_stop/", json=stop("01_01_test_lamp.py", status)).status_code == 202
    assert statuses(last_run(machine, machine_id)) == ["passed", "waiting", "failed", "waiting"]
    third = machine.post("/tm_api/test_start/", json=start("01_01_test_lamp.py"))
    assert_error_shape(third, 409)


def test_a_start_while_another_test_runs_marks_the_older_one_unknown(machine):
    machine_id = machine.post("/tm_api/dry_run/", json=dry_run()).get_json()["machine"]
    machine.post("/tm_api/test_start/", json=start("01_01_test_lamp.py"))
    machine.post("/tm_api/test_start/", json=start("01_02_test_lamp.py"))
    run = last_run(machine, machine_id)
    assert statuses(run)[:2] == ["unknown", "running"] and run["status"] == "running"


def test_a_new_dry_run_marks_the_previous_runs_unfinished_tests_unknown(machine):
    first = machine.post("/tm_api/dry_run/", json=dry_run()).get_json()
    machine.post("/tm_api/test_start/", json=start("01_01_test_lamp.py"))
    machine.post("/tm_api/test_stop/", json=stop("01_01_test_lamp.py", "warning"))
    second = machine.post("/tm_api/dry_run/", json=dry_run()).get_json()
    assert second["machine"] == first["machine"] and second["run"] != first["run"]
    runs = machine.get(f"/tm_api/machine_dry_run_datas/{first['machine']}").get_json()
    assert [(r["pk"], r["tests_status"]) for r in runs["results"]] == [
        (second["run"], "waiting"),
        (first["run"], "unknown"),  # unknown comes before warning in the roll-up
    ]
    # Reports now go to the new run.
    machine.post("/tm_api/test_start/", json=start("01_01_test_lamp.py"))
    assert statuses(last_run(machine, first["machine"]))[0] == "running"


def test_two_machines_keep_their_runs_apart(machine):
    one = machine.post("/tm_api/dry_run/", json=dry_run("machine #1")).get_json()
    two = machine.post("/tm_api/dry_run/", json=dry_run("machine #2")).get_json()
    machine.post("/tm_api/test_start/", json=start("01_01_test_lamp.py", machine="machine #2"))
    assert statuses(last_run(machine, one["machine"]))[0] == "waiting"
    assert statuses(last_run(machine, two["machine"]))[0] == "running"
    listed = machine.get("/tm_api/machines/").get_json()
    assert [(m["machine_name"], m["get_last_master_scenario_status"]) for m in listed["results"]] == [
        ("machine #1", "waiting"),
        ("machine #2", "running"),
    ]


def test_a_run_and_test_id_pick_the_test_exactly(machine):
    answer = machine.post("/tm_api/dry_run/", json=dry_run()).get_json()
    second_copy = answer["tests"][2]["test"]
    started = machine.post(
        "/tm_api/test_start/", json=start("01_01_test_lamp.py", run=answer["run"], test=second_copy)
    )
    assert started.status_code == 202 and started.get_json()["test"] == second_copy
    assert statuses(last_run(machine, answer["machine"]))[:3] == ["waiting", "waiting", "running"]
    only_one = machine.post(
        "/tm_api/test_stop/", json=stop("01_01_test_lamp.py", "passed", run=answer["run"])
    )
    assert_error_shape(only_one, 400)


def test_a_cancelled_test_cancels_the_rest_of_its_run(machine):
    machine_id = machine.post("/tm_api/dry_run/", json=dry_run()).get_json()["machine"]
    machine.post("/tm_api/test_start/", json=start("01_01_test_lamp.py"))
    machine.post("/tm_api/test_stop/", json=stop("01_01_test_lamp.py", "cancelled"))
    run = last_run(machine, machine_id)
    assert set(statuses(run)) == {"cancelled"} and run["status"] == "cancelled"


def test_the_read_endpoints_agree(machine):
    answer = machine.post("/tm_api/dry_run/", json=dry_run()).get_json()
    machine.post("/tm_api/test_start/", json=start("01_01_test_door.py", "02_feature_door"))
    machine.post("/tm_api/test_stop/", json=stop("01_01_test_door.py", "error", "02_feature_door"))
    run = last_run(machine, answer["machine"])
    listed = machine.get(f"/tm_api/machine_dry_run_datas/{answer['machine']}").get_json()["results"][0]
    machines = machine.get("/tm_api/machines/").get_json()["results"][0]
    master = machine.get(f"/tm_api/master_scenario/{run['pk']}").get_json()
    assert run["status"] == listed["tests_status"] == machines["get_last_master_scenario_status"]
    assert run["status"] == master["status"] == "waiting"
    assert run["tests_statistics"]["error"] == 1 and run["tests_statistics"]["waiting"] == 3
    assert listed["tests"] == run["tests_count"] and listed["scenarios"] == run["scenarios_count"]
    assert master["script"] == "import os\nfrom run import SCENARIOS_DIR"
    for scenario in run["scenarios"]:
        shown = machine.get(f"/tm_api/scenario/{scenario['pk']}").get_json()
        assert (shown["file_name"], shown["status"]) == (scenario["file_name"], scenario["status"])
        for test in scenario["tests"]:
            detail = machine.get(f"/tm_api/test/{test['pk']}").get_json()
            assert (detail["file_name"], detail["status"]) == (test["file_name"], test["status"])
    door = machine.get(f"/tm_api/test/{run['scenarios'][1]['tests'][0]['pk']}").get_json()
    assert door["file_path"] == f"{DIR}/02_feature_door" and door["timestamp_stop"] is not None


def test_times_are_read_naive_as_server_local_and_with_a_zone_as_given(machine):
    machine_id = machine.post("/tm_api/dry_run/", json=dry_run()).get_json()["machine"]
    zoned = start("01_01_test_lamp.py", timestamp_start="2018-12-30T13:01:57+01:00")
    test_id = machine.post("/tm_api/test_start/", json=zoned).get_json()["test"]
    shown = machine.get(f"/tm_api/test/{test_id}").get_json()["timestamp_start"]
    assert shown == "2018-12-30T13:01:57+01:00"
    assert datetime.fromisoformat(shown).astimezone(UTC).hour == 12
    naive = machine.post("/tm_api/test_stop/", json=stop("01_01_test_lamp.py", "passed")).get_json()
    stopped = machine.get(f"/tm_api/test/{naive['test']}").get_json()["timestamp_stop"]
    local = datetime.fromisoformat("2018-12-30 13:01:59.622177").astimezone()
    assert datetime.fromisoformat(stopped) == local
    assert machine_id


def test_events_follow_each_committed_change(app, machine):
    bus = app.extensions["appliance"].bus
    with bus.subscribe(frozenset({"progress"})) as events:
        answer = machine.post("/tm_api/dry_run/", json=dry_run()).get_json()
        machine.post("/tm_api/test_start/", json=start("01_01_test_lamp.py"))
        seen = [events.get(1) for _ in range(3)]
    assert [event.topic for event in seen] == ["progress.run", "progress.test", "progress.run"]
    assert seen[0].data["run"] == answer["run"] and seen[0].data["total"] == 4
    assert seen[1].data["status"] == "running" and seen[1].data["file_name"] == "01_01_test_lamp.py"
    assert seen[2].data["counts"]["running"] == 1 and seen[2].data["status"] == "running"
