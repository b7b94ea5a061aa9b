"""The observer's side of a real git repository: every new commit once, in order, kept on disk."""

import json
import logging
import subprocess
import threading
from types import SimpleNamespace

from appliance.ci import protocol
from appliance.ci.observer import Observer, RepoWatch, _describe
from appliance.ci.settings import CIRepoConfig
from appliance.client import Answer, Client, ServerUnavailable
from tests.conftest import free_port, wait_until


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


def commit_raw(git_repo, headers: bytes, message: bytes) -> str:
    """A commit git itself accepts but no porcelain writes: any bytes, any date."""
    tree, parent = git_repo.git("rev-parse", "HEAD^{tree}"), git_repo.git("rev-parse", "HEAD")
    raw = f"tree {tree}\nparent {parent}\n".encode() + headers + b"\n" + message
    command = ["git", "-C", str(git_repo.path), "hash-object", "-t", "commit", "-w", "--literally", "--stdin"]
    sha = subprocess.run(command, input=raw, capture_output=True, check=True).stdout.decode().strip()
    git_repo.git("update-ref", "refs/heads/main", sha)
    return sha


class RecordingClient:
    """A server that takes every commit and has no event stream."""

    def __init__(self):
        self.bodies = []

    def call(self, method, path, body=None):
        self.bodies.append(body)
        return Answer(200, {"builds": []})

    def stream(self, path, timeout):
        raise ServerUnavailable("no event stream here")


def test_stop_ends_the_loop_at_once(git_repo, tmp_path):
    client = RecordingClient()
    spec = CIRepoConfig(name="demo", url=str(git_repo.path), poll_seconds=3600)
    observer = Observer([spec], tmp_path / "observer", client, 20)
    loop = threading.Thread(target=observer.run, daemon=True)  # a stop that fails must not hang the run
    loop.start()
    # The loop has polled and delivered: all it has left is its hour's wait for the next poll.
    wait_until(lambda: client.bodies, what="the head commit delivered by run()")
    observer.stop()
    loop.join(timeout=5)
    assert not loop.is_alive(), "stop() must end the wait for the next poll"
    assert [[c["sha"] for c in body["commits"]] for body in client.bodies] == [git_repo.commits]


def test_a_commit_the_server_could_not_record_is_sent_in_a_shape_it_accepts(git_repo, tmp_path):
    """Bytes that are not UTF-8 and a date in the year 11476 would have the whole batch refused,
    at every try, for ever."""
    commit_raw(
        git_repo,
        b"author Bad \xff Name <bad@example.org> 1700000000 +0000\n"
        b"committer Bad <bad@example.org> 300000000000 +0000\n",
        b"broken \xfe\xff message\n",
    )
    client = RecordingClient()
    observer = Observer(
        [CIRepoConfig(name="demo", url=str(git_repo.path))], tmp_path / "observer", client, 20
    )
    observer.poll_due()
    assert observer.deliver() is True
    [body] = client.bodies
    assert body["repo"] == "demo"
    [commit] = body["commits"]
    assert (commit["author"], commit["message"]) == (
        "Bad \ufffd Name <bad@example.org>",
        "broken \ufffd\ufffd message",
    )
    assert commit["committed_at"] is None
    assert protocol.commits(json.loads(json.dumps(body)))[1][0].sha == commit["sha"]


def test_text_that_is_not_unicode_is_replaced_not_sent():
    commit = SimpleNamespace(
        hexsha="a" * 40,
        author=SimpleNamespace(name="Ada \ud800", email="ada@example.org"),
        message=b"undecodable \xff",
        committed_date=1_700_000_000,
    )
    described = _describe(commit)
    assert described == {
        "sha": "a" * 40,
        "author": "Ada ? <ada@example.org>",
        "message": "undecodable \ufffd",
        "committed_at": 1_700_000_000,
    }
    json.dumps(described, ensure_ascii=False).encode("utf-8")


def test_a_password_in_the_url_stays_out_of_the_log(tmp_path, caplog):
    url = f"http://alice:PW@127.0.0.1:{free_port()}/x.git"
    client = Client(f"http://127.0.0.1:{free_port()}", "token", timeout=2)
    observer = Observer([CIRepoConfig(name="demo", url=url)], tmp_path / "observer", client, 20)
    with caplog.at_level(logging.INFO, logger="appliance.ci.observer"):
        observer.poll_due()
    assert "demo: cannot read http://alice:***@127.0.0.1:" in caplog.text
    assert "PW" not in caplog.text
