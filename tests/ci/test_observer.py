"""The observer's side of a real git repository: every new commit once, in order, kept on disk."""

import json
import threading

from appliance.ci.client import Client
from appliance.ci.observer import Observer, RepoWatch
from appliance.ci.settings import CIRepoConfig
from tests.conftest import free_port


def watch_of(git_repo, tmp_path):
    return RepoWatch(CIRepoConfig(name="demo", url=str(git_repo.path)), tmp_path / "observer")


def pending(watch):
    return [commit["sha"] for commit in watch.position.pending]


def test_the_first_look_takes_the_head_then_every_new_commit_oldest_first(git_repo, tmp_path):
    (tmp_path / "observer").mkdir()
    watch = watch_of(git_repo, tmp_path)
    assert watch.poll(cap=20) == 1
    assert pending(watch) == git_repo.commits
    shas = [git_repo.commit({"f": str(n)}, f"change {n}") for n in range(3)]
    assert watch.poll(cap=20) == 3
    assert pending(watch) == git_repo.commits[:1] + shas
    assert watch.poll(cap=20) == 0
    first = watch.position.pending[1]
    assert first["author"] == "Ada Tester <ada@example.org>" and first["message"] == "change 0"


def test_a_long_push_is_taken_a_few_commits_per_poll_without_gaps(git_repo, tmp_path):
    (tmp_path / "observer").mkdir()
    watch = watch_of(git_repo, tmp_path)
    watch.poll(cap=2)
    shas = [git_repo.commit({"f": str(n)}, f"change {n}") for n in range(5)]
    assert [watch.poll(cap=2) for _ in range(4)] == [2, 2, 1, 0]
    assert pending(watch)[1:] == shas


def test_a_restart_neither_skips_nor_repeats(git_repo, tmp_path):
    (tmp_path / "observer").mkdir()
    watch = watch_of(git_repo, tmp_path)
    watch.poll(cap=20)
    watch.position.pending.clear()  # as if delivered
    watch.save()
    sha = git_repo.commit({"f": "1"}, "while the observer was away")
    restarted = watch_of(git_repo, tmp_path)
    assert restarted.poll(cap=20) == 1
    assert pending(restarted) == [sha]
    on_disk = json.loads(restarted.state_file.read_text())
    assert on_disk["last_seen"] == sha and [c["sha"] for c in on_disk["pending"]] == [sha]


def test_a_last_commit_that_vanished_from_history_restarts_at_the_head(git_repo, tmp_path):
    (tmp_path / "observer").mkdir()
    watch = watch_of(git_repo, tmp_path)
    watch.position.last_seen = "0" * 40
    assert watch.poll(cap=20) == 1
    assert pending(watch) == [git_repo.commits[-1]]


def test_commits_wait_in_the_outbox_while_the_server_is_away(git_repo, tmp_path):
    client = Client(f"http://127.0.0.1:{free_port()}", "token", timeout=2)
    observer = Observer(
        [CIRepoConfig(name="demo", url=str(git_repo.path))], tmp_path / "observer", client, 20
    )
    observer.poll_due()
    assert observer.deliver() is False
    assert pending(observer.watches["demo"]) == git_repo.commits


def test_stop_ends_the_loop_at_once(git_repo, tmp_path):
    client = Client(f"http://127.0.0.1:{free_port()}", "token", timeout=2)
    spec = CIRepoConfig(name="demo", url=str(git_repo.path), poll_seconds=3600)
    observer = Observer([spec], tmp_path / "observer", client, 20)
    loop = threading.Thread(target=observer.run)
    loop.start()
    observer.stop()
    loop.join(timeout=20)
    assert not loop.is_alive()
