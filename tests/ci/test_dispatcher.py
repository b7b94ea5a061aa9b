"""The dispatcher in the server: long-polling runners, leases ended by the timer, events."""

import threading

import pytest

from appliance.ci.dispatcher import Dispatcher, Settings
from appliance.ci.store import CommitSpec, NotFound, RepoSpec, Result
from appliance.db import Database
from appliance.events import EventBus
from tests.conftest import wait_until

REPO = RepoSpec(name="app", url="/srv/app.git", branch="main", command="")


def commit(sha):
    return CommitSpec(sha=sha * 40, author="Ada", message=f"commit {sha}")


@pytest.fixture
def make_dispatcher(tmp_path):
    made = []

    def make(**settings):
        database = Database.in_data_dir(tmp_path / "appliance.db")
        database.migrate()
        dispatcher = Dispatcher(database, EventBus(), Settings(**settings))
        dispatcher.start([REPO])
        made.append((dispatcher, database))
        return dispatcher

    yield make
    for dispatcher, database in made:
        dispatcher.stop()
        database.close()


def test_a_waiting_runner_is_woken_by_the_enqueue_not_by_its_timeout(make_dispatcher):
    dispatcher = make_dispatcher(wait_seconds=60)
    dispatcher.register("r1", [], 1, set())
    got = []
    waiter = threading.Thread(target=lambda: got.append(dispatcher.next("r1", wait=60)))
    waiter.start()
    wait_until(lambda: dispatcher.runners_waiting == 1, what="the runner waiting for work")
    dispatcher.add_commits(REPO.name, [commit("a")])
    waiter.join(timeout=20)
    assert not waiter.is_alive(), "the runner was not woken by the new build"
    assert got[0]["commit"] == "a" * 40
    assert got[0]["repo"] == {"name": "app", "url": "/srv/app.git", "branch": "main"}
    assert got[0]["attempt"] == 1


def test_a_runner_with_nothing_to_do_gets_none_after_its_wait(make_dispatcher):
    dispatcher = make_dispatcher()
    dispatcher.register("r1", [], 1, set())
    assert dispatcher.next("r1", wait=0.05) is None
    with pytest.raises(NotFound):
        dispatcher.next("nobody", wait=0.05)


def test_the_timer_gives_an_expired_lease_back_to_the_queue_without_any_request(make_dispatcher):
    dispatcher = make_dispatcher(lease_seconds=0.3, max_attempts=2)
    with dispatcher.bus.subscribe(["ci.build"]) as events:
        dispatcher.register("dead", [], 1, set())
        dispatcher.add_commits(REPO.name, [commit("a")])
        work = dispatcher.next("dead", wait=1)
        statuses = []
        while len(statuses) < 3 and (event := events.get(timeout=10)) is not None:
            statuses.append(event.data["status"])
    assert statuses == ["queued", "running", "queued"]
    assert dispatcher.store.build(work["build"])["attempts"][0]["status"] == "lost"
    dispatcher.register("alive", [], 1, set())
    assert dispatcher.next("alive", wait=1)["attempt"] == 2


def test_cancel_reaches_the_runner_in_the_heartbeat_answer(make_dispatcher):
    dispatcher = make_dispatcher()
    dispatcher.register("r1", [], 1, set())
    dispatcher.add_commits(REPO.name, [commit("a")])
    work = dispatcher.next("r1", wait=1)
    key = (work["build"], work["attempt"])
    assert dispatcher.heartbeat("r1", {key}) == {key: "continue"}
    assert dispatcher.cancel(work["build"])["status"] == "cancelled"
    assert dispatcher.heartbeat("r1", {key}) == {key: "cancel"}


def test_events_follow_a_build_its_log_and_its_runner(make_dispatcher):
    dispatcher = make_dispatcher()
    with dispatcher.bus.subscribe(["ci"]) as events:
        dispatcher.register("r1", ["pi"], 2, set())
        dispatcher.add_commits(REPO.name, [commit("a")])
        work = dispatcher.next("r1", wait=1)
        dispatcher.append_log(work["build"], 1, 0, b"ok\n")
        dispatcher.finish(work["build"], 1, "r1", Result(status="passed", exit_code=0))
        seen = []
        while (event := events.get(timeout=0)) is not None:
            seen.append(
                (event.topic, event.data.get("status") or event.data.get("state") or event.data["size"])
            )
    assert seen == [
        ("ci.runner", "idle"),
        ("ci.build", "queued"),
        ("ci.repo", "queued"),
        ("ci.build", "running"),
        ("ci.repo", "running"),
        ("ci.runner", "busy"),
        ("ci.log", 3),
        ("ci.build", "passed"),
        ("ci.repo", "passed"),
        ("ci.runner", "idle"),
    ]


def test_nothing_is_published_for_commits_that_were_rolled_back(make_dispatcher, monkeypatch):
    dispatcher = make_dispatcher()
    queue = dispatcher.store.queue._enqueue
    calls = []

    def fail_on_the_second(conn, values, now):
        calls.append(values["commit_sha"])
        if len(calls) == 2:
            raise OSError("disk full")
        return queue(conn, values, now)

    monkeypatch.setattr(dispatcher.store.queue, "_enqueue", fail_on_the_second)
    with dispatcher.bus.subscribe(["ci"]) as events:
        with pytest.raises(OSError, match="disk full"):
            dispatcher.add_commits(REPO.name, [commit("a"), commit("b")])
        assert events.get(timeout=0) is None
    assert dispatcher.store.builds() == []
