"""The CI's state in a real SQLite database: queue order, claims, leases, results, logs."""

import threading

import pytest

from appliance.ci import store as store_module
from appliance.ci.schema import iso
from appliance.ci.store import (
    CIStore,
    CommitSpec,
    Conflict,
    LogOffsetMismatch,
    NotFound,
    Policy,
    RepoSpec,
    Result,
)
from appliance.db import Database

REPO = RepoSpec(name="app", url="/srv/app.git", branch="main", command="make test")
T0 = 1_800_000_000.0


def commits(*shas):
    return [CommitSpec(sha=sha * 40, author="Ada", message=f"commit {sha}", committed_at=T0) for sha in shas]


@pytest.fixture
def store(tmp_path):
    database = Database.in_data_dir(tmp_path / "appliance.db")
    database.migrate()
    store = CIStore(database, Policy(max_attempts=2, lease_seconds=10, max_log_bytes=1000))
    store.sync_repos([REPO], T0)
    yield store
    database.close()


def test_builds_are_claimed_oldest_first_and_a_commit_is_queued_once(store):
    store.add_commits(REPO.name, commits("a", "b"), T0)
    again = store.add_commits(REPO.name, commits("b", "c"), T0)
    assert [created for _id, created in again] == [False, True]
    claimed = [store.claim("r1", T0 + 1) for _ in range(4)]
    assert [store.build(c[0])["commit"][0] for c in claimed[:3]] == ["a", "b", "c"]
    assert claimed[3] is None
    assert store.build(claimed[0][0])["status"] == "running"


def test_concurrent_claims_never_hand_one_build_to_two_runners(store):
    store.add_commits(REPO.name, commits(*"abcdefgh"), T0)
    won: list[tuple[int, int]] = []
    start = threading.Barrier(8)

    def claim(name):
        start.wait()
        while (claim := store.claim(name, T0)) is not None:
            won.append(claim)

    threads = [threading.Thread(target=claim, args=(f"r{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(build for build, _attempt in won) == sorted({build for build, _attempt in won})
    assert len(won) == 8


def test_an_expired_lease_puts_the_build_first_in_the_queue_as_a_new_attempt(store):
    store.add_commits(REPO.name, commits("a", "b", "c"), T0)
    first, _ = store.claim("dead", T0)
    assert store.expire_leases(T0 + 5) == []
    assert store.expire_leases(T0 + 11) == [first]
    build = store.build(first)
    assert build["status"] == "queued"
    assert "attempt 1 of 2 lost" in build["reason"] and "runner dead" in build["reason"]
    assert build["attempts"][0]["status"] == "lost"
    # Back at the front, ahead of the older queued builds b and c.
    assert store.claim("alive", T0 + 12) == (first, 2)


def test_the_last_attempt_lost_ends_the_build_as_error_with_the_reason(store):
    store.add_commits(REPO.name, commits("a"), T0)
    build_id, _ = store.claim("r1", T0)
    store.expire_leases(T0 + 11)
    assert store.claim("r2", T0 + 12) == (build_id, 2)
    store.expire_leases(T0 + 30)
    build = store.build(build_id)
    assert build["status"] == "error"
    assert build["reason"].startswith("all 2 attempts lost; the last: runner r2 stopped renewing")
    assert store.claim("r3", T0 + 31) is None


def test_a_heartbeat_renews_the_lease(store):
    store.add_commits(REPO.name, commits("a"), T0)
    build_id, number = store.claim("r1", T0)
    store.register_runner("r1", [], 1, {(build_id, number)}, T0)
    assert store.heartbeat("r1", {(build_id, number)}, T0 + 8) == {(build_id, number): "continue"}
    assert store.expire_leases(T0 + 15) == []
    assert store.next_lease_expiry() == T0 + 18


def test_a_result_counts_once_and_a_late_result_from_a_lost_lease_changes_nothing(store):
    store.add_commits(REPO.name, commits("a"), T0)
    build_id, _ = store.claim("slow", T0)
    store.expire_leases(T0 + 11)
    assert store.claim("fast", T0 + 12) == (build_id, 2)
    passed = Result(status="passed", exit_code=0, tests=3, failures=0, errors=0, skipped=0)
    assert store.finish(build_id, 2, "fast", passed, T0 + 13) is True
    assert store.finish(build_id, 2, "fast", passed, T0 + 14) is False  # the same result again
    with pytest.raises(Conflict, match=r"attempt 1 of build \d+ is lost"):
        store.finish(build_id, 1, "slow", Result(status="failed", exit_code=1), T0 + 15)
    with pytest.raises(Conflict, match="belongs to runner fast"):
        store.finish(build_id, 2, "slow", passed, T0 + 15)
    build = store.build(build_id)
    assert (build["status"], build["exit_code"], build["counts"]["tests"]) == ("passed", 0, 3)
    assert build["finished_at"] == iso(T0 + 13)


def test_log_appends_must_start_at_the_servers_offset(store):
    store.add_commits(REPO.name, commits("a"), T0)
    build_id, number = store.claim("r1", T0)
    assert store.append_log(build_id, number, 0, b"hello ") == 6
    with pytest.raises(LogOffsetMismatch) as mismatch:
        store.append_log(build_id, number, 0, b"hello ")
    assert mismatch.value.offset == 6
    assert store.append_log(build_id, number, 6, b"w\xffrld:\n") == 13
    assert store.read_log(build_id, number, 0, 100) == (b"hello w\xffrld:\n", 13)
    assert store.read_log(build_id, number, 4, 5) == (b"o w\xffr", 13)
    with pytest.raises(store_module.LogTooLarge):
        store.append_log(build_id, number, 13, b"x" * 6000)


def test_cancel_ends_a_queued_build_and_tells_the_runner_of_a_running_one(store):
    store.add_commits(REPO.name, commits("a", "b"), T0)
    running, number = store.claim("r1", T0)
    queued = store.build(running + 1)["id"]
    store.cancel(queued, T0 + 1)
    store.cancel(running, T0 + 1)
    assert store.build(queued)["status"] == store.build(running)["status"] == "cancelled"
    store.register_runner("r1", [], 1, {(running, number)}, T0 + 1)
    assert store.heartbeat("r1", {(running, number)}, T0 + 2) == {(running, number): "cancel"}
    with pytest.raises(Conflict, match="already ended: cancelled"):
        store.cancel(running, T0 + 3)
    with pytest.raises(Conflict):
        store.finish(running, number, "r1", Result(status="cancelled", exit_code=-15), T0 + 3)
    assert store.claim("r1", T0 + 4) is None


def test_a_restarted_runner_loses_the_attempts_it_no_longer_holds_at_once(store):
    store.add_commits(REPO.name, commits("a"), T0)
    build_id, _ = store.claim("r1", T0)
    assert store.register_runner("r1", ["linux"], 2, set(), T0 + 1) == [build_id]
    build = store.build(build_id)
    assert build["status"] == "queued" and "runner r1 restarted without it" in build["reason"]
    assert store.runner_list(T0 + 1)[0] | {"last_seen": None} == {
        "name": "r1",
        "labels": ["linux"],
        "capacity": 2,
        "state": "idle",
        "last_seen": None,
        "registered_at": iso(T0 + 1),
        "builds": [],
    }
    assert store.runner_list(T0 + 100)[0]["state"] == "offline"


def test_rebuild_needs_a_commit_prefix_that_names_one_commit(store):
    store.add_commits(REPO.name, [CommitSpec("ab" * 20, "Ada", "x"), CommitSpec("ac" * 20, "Ada", "y")], T0)
    with pytest.raises(Conflict, match="matches several commits"):
        store.rebuild("a", None, T0)
    with pytest.raises(NotFound):
        store.rebuild("ff", None, T0)
    build_id = store.rebuild("aba", None, T0 + 1)
    rebuilt = store.build(build_id)
    assert (rebuilt["trigger"], rebuilt["commit"], rebuilt["status"]) == ("rebuild", "ab" * 20, "queued")


def test_after_a_restart_running_attempts_get_a_full_lease(store):
    store.add_commits(REPO.name, commits("a"), T0)
    build_id, _ = store.claim("r1", T0)
    store.grant_grace(T0 + 500)
    assert store.expire_leases(T0 + 505) == []
    assert store.build(build_id)["status"] == "running"


def test_commits_for_a_repository_not_configured_queue_nothing(store):
    with pytest.raises(NotFound, match="no repository 'ghost' in"):
        store.add_commits("ghost", commits("a"), T0)
    assert store.builds() == []


def test_a_repository_dropped_from_the_configuration_keeps_its_history_but_runs_nothing(store):
    other = RepoSpec(name="other", url="/srv/other.git", branch="dev", command="make")
    store.sync_repos([REPO, other], T0)
    store.add_commits("other", commits("a", "b", "c"), T0)
    running, _ = store.claim("r1", T0)
    store.sync_repos([REPO], T0 + 1)
    assert store.builds() == [] and [r["name"] for r in store.repositories()] == ["app"]
    assert [p["name"] for p in store.cc_projects()] == ["app"]
    queued = store.build(running + 1)
    assert (
        queued["status"] == "cancelled"
        and queued["reason"] == "repository other is no longer in [[ci.repos]]"
    )
    # A running build's lost lease does not bring it back to a runner.
    store.expire_leases(T0 + 20)
    assert store.build(running)["status"] == "queued" and store.claim("r2", T0 + 21) is None
    with pytest.raises(NotFound):
        store.add_commits("other", commits("d"), T0 + 2)
    with pytest.raises(NotFound):
        store.rebuild("aaaa", None, T0 + 2)


def test_reading_a_log_far_beyond_its_end_is_empty(store):
    store.add_commits(REPO.name, commits("a"), T0)
    build_id, number = store.claim("r1", T0)
    store.append_log(build_id, number, 0, b"hello")
    assert store.read_log(build_id, number, 2**62, 2**62) == (b"", 5)
    assert store.read_log(build_id, number, 3, 2**63) == (b"lo", 5)
