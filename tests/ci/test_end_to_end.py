"""The whole CI with real processes: `appliance server`, `appliance runner`, `appliance observer`,
real git repositories, real kills."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
import xml.etree.ElementTree as ET

import pytest

from tests.ci.conftest import CI
from tests.conftest import http_json, wait_until

pytestmark = pytest.mark.slow

TEST_MODULE = "import unittest\n\n\nclass T(unittest.TestCase):\n    def {name}(self):\n        {check}\n"
PASSING = TEST_MODULE.format(name="test_ok", check="self.assertTrue(True)")
FAILING = TEST_MODULE.format(name="test_bad", check="self.assertEqual(1, 2)")


@pytest.fixture
def remote(git_repo, tmp_path):
    """A bare repository the fixture's working repository pushes to, as a team's server would."""
    path = tmp_path / "remote.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(git_repo.path), str(path)], check=True)
    git_repo.git("remote", "add", "origin", str(path))
    return path


def push(git_repo, *commits: dict[str, str]) -> list[str]:
    shas = [git_repo.commit(files, f"change {index}") for index, files in enumerate(commits, 1)]
    git_repo.git("push", "--quiet", "origin", "main")
    return shas


def cc_project(ci: CI) -> dict:
    with urllib.request.urlopen(ci.server.url + "/cc.xml", timeout=10) as response:
        [project] = ET.fromstring(response.read())  # noqa: S314 - our own server's output
    return project.attrib


def test_three_commits_pushed_at_once_give_three_builds_in_order_and_cc_xml_follows(
    start_ci, git_repo, remote
):
    ci = start_ci([{"name": "demo", "url": str(remote), "poll_seconds": 0.2}])
    ci.runner("r1")
    ci.observer()
    [first] = ci.wait_finished(1)
    assert first["commit"] == git_repo.commits[0] and first["status"] == "passed"

    shas = push(
        git_repo,
        {"tests/test_fail.py": FAILING},
        {"tests/test_fail.py": TEST_MODULE.format(name="test_fixed", check="pass")},
        {"README": "three\n"},
    )
    builds = ci.wait_finished(4)[1:]
    assert [b["commit"] for b in builds] == shas
    assert [b["status"] for b in builds] == ["failed", "passed", "passed"]
    assert [b["counts"] for b in builds] == [
        {"tests": 2, "failures": 1, "errors": 0, "skipped": 0},
        {"tests": 2, "failures": 0, "errors": 0, "skipped": 0},
        {"tests": 2, "failures": 0, "errors": 0, "skipped": 0},
    ]
    failed_log = ci.log(builds[0]["id"])
    assert b"FAIL: test_bad (test_fail.T.test_bad)" in failed_log and b"AssertionError: 1 != 2" in failed_log
    assert b"test_fixed (test_fail.T.test_fixed) ... ok" in ci.log(builds[1]["id"])
    assert all(b["attempt"] == 1 and b["runner"] == "r1" for b in builds)

    project = cc_project(ci)
    assert (project["activity"], project["lastBuildStatus"], project["lastBuildLabel"]) == (
        "Sleeping",
        "Success",
        shas[2][:8],
    )
    [broken] = push(git_repo, {"tests/test_pass.py": FAILING})
    wait_until(lambda: cc_project(ci)["lastBuildLabel"] == broken[:8], what="cc.xml to follow the new build")
    assert cc_project(ci)["lastBuildStatus"] == "Failure"
    assert cc_project(ci)["webUrl"].endswith(f"/ci/builds/{ci.builds()[-1]['id']}")


def test_a_test_module_edited_between_commits_is_really_run_again(start_ci, git_repo, remote):
    ci = start_ci([{"name": "demo", "url": str(remote), "poll_seconds": 0.2}])
    ci.runner("r1")
    ci.observer()
    ci.wait_finished(1)
    shas = []
    for value in (1, 2, 1):
        module = TEST_MODULE.format(name="test_value", check=f"self.assertEqual({value}, 1)")
        shas += push(git_repo, {"tests/test_value.py": module})
    builds = ci.wait_finished(4)[1:]
    assert [b["commit"] for b in builds] == shas
    assert [b["status"] for b in builds] == ["passed", "failed", "passed"]
    assert b"AssertionError: 2 != 1" in ci.log(builds[1]["id"])


def test_a_webhook_makes_the_observer_look_at_once(start_ci, git_repo, remote):
    ci = start_ci([{"name": "demo", "url": str(remote), "poll_seconds": 3600.0}])
    ci.runner("r1")
    ci.observer()
    ci.wait_finished(1)
    [sha] = push(git_repo, {"README": "hooked\n"})
    status, _ = http_json(ci.server.url + "/api/ci/hooks/demo", "POST", {"ref": "refs/heads/main"})
    assert status == 202
    [_, hooked] = ci.wait_finished(2)
    assert hooked["commit"] == sha and hooked["status"] == "passed"


SLOW_COMMAND = (
    f"{sys.executable} -c \"import time; print('started', flush=True); time.sleep(2); print('done')\""
)


def test_a_runner_killed_mid_build_loses_it_to_another_runner_and_its_late_result_is_refused(
    start_ci, git_repo, remote
):
    repo = {"name": "demo", "url": str(remote), "command": SLOW_COMMAND}
    ci = start_ci([repo], lease_seconds=1.5)
    doomed = ci.runner("doomed")
    ci.queue(repo, [git_repo.commits[0]])
    build = wait_until(
        lambda: ci.running_with_output(b"started"), what="the build to start on the doomed runner"
    )
    doomed.send_signal(signal.SIGKILL)
    doomed.wait()
    ci.runner("rescuer")
    [done] = ci.wait_finished(1)
    assert (done["status"], done["attempt"], done["runner"]) == ("passed", 2, "rescuer")
    first, second = ci.build(build["id"])["attempts"]
    assert (first["runner"], first["status"]) == ("doomed", "lost")
    assert "stopped renewing its lease" in first["reason"]
    assert (second["runner"], second["status"], second["exit_code"]) == ("rescuer", "passed", 0)
    assert ci.log(build["id"], attempt=2).count(b"done\n") == 1

    replay = {"runner": "doomed", "status": "failed", "exit_code": 1}
    status, body = ci.api(f"/api/ci/builds/{build['id']}/attempts/1/result", "POST", replay)
    assert status == 409 and "is lost" in body["error"]
    assert ci.build(build["id"])["status"] == "passed"


def test_a_server_killed_with_builds_queued_and_running_loses_and_repeats_nothing(start_ci, git_repo, remote):
    repo = {"name": "demo", "url": str(remote), "command": SLOW_COMMAND}
    ci = start_ci([repo], lease_seconds=3.0)
    shas = [git_repo.commits[0], *push(git_repo, {"a": "1"}, {"b": "2"})]
    ci.runner("r1")
    ci.queue(repo, shas)
    running = wait_until(lambda: ci.running_with_output(b"started"), what="the first build to start")
    ci.server.process.send_signal(signal.SIGKILL)
    ci.server.process.wait()
    ci.server.start()  # same port, same data directory
    builds = ci.wait_finished(3)
    assert len(builds) == 3
    assert [b["commit"] for b in builds] == shas
    assert [(b["status"], b["attempt"]) for b in builds] == [("passed", 1)] * 3
    log = ci.log(running["id"])
    assert log.count(b"started\n") == 1 and log.count(b"done\n") == 1


def test_while_the_server_is_down_the_commits_and_the_result_wait_and_then_arrive(start_ci, git_repo, remote):
    repo = {"name": "demo", "url": str(remote), "command": SLOW_COMMAND, "poll_seconds": 0.2}
    ci = start_ci([repo])
    ci.runner("r1")
    ci.observer()
    running = wait_until(lambda: ci.running_with_output(b"started"), what="the first build to start")
    ci.server.stop()
    [sha] = push(git_repo, {"later": "1"})
    outbox = ci.server.data_dir / "ci" / "observer" / "demo.json"
    wait_until(
        lambda: [c["sha"] for c in json.loads(outbox.read_text())["pending"]] == [sha], what="the outbox"
    )
    ci.server.start()
    first, second = ci.wait_finished(2)
    assert first["id"] == running["id"] and (first["status"], first["attempt"]) == ("passed", 1)
    assert second["commit"] == sha and second["status"] == "passed"
    assert json.loads(outbox.read_text())["pending"] == []
    assert ci.log(first["id"]).count(b"done\n") == 1


GRANDCHILD = "sleep 300 & echo grandchild $!"
JUNIT = 'echo \'<testsuite tests="5" failures="2" errors="0" skipped="1"/>\' > junit.xml; exit 1'
NOISY = (
    f'{sys.executable} -c "import sys; out = sys.stdout.buffer\n'
    "for i in range(10 * 1024): out.write(b'x' * 1023 + b'\\n')\n"
    "out.write(b'register:127.0.0.1:8900 \\xff\\xfe\\xc3(\\n')\""
)


def test_big_binary_endless_leaky_and_reporting_commands(start_ci, git_repo):
    repos = [
        {"name": "noisy", "url": str(git_repo.path), "command": NOISY},
        {"name": "endless", "url": str(git_repo.path), "command": "echo waiting; sleep 600"},
        {"name": "leaky", "url": str(git_repo.path), "command": GRANDCHILD},
        {"name": "junit", "url": str(git_repo.path), "command": JUNIT},
    ]
    ci = start_ci(repos, silence_seconds=1.5, kill_grace_seconds=1.0)
    ci.runner("r1")
    for repo in repos:
        ci.queue(repo, [git_repo.commits[0]])
    noisy, endless, leaky, junit = ci.wait_finished(4)

    assert noisy["status"] == "passed"
    log = ci.log(noisy["id"])
    body = log[log.index(b"xxx") :]
    assert body.startswith(b"x" * 1023 + b"\n") and body.count(b"\n") >= 10 * 1024
    assert b"register:127.0.0.1:8900 \xff\xfe\xc3(\n" in body
    assert (
        len(body.split(b"\n[runner r1]")[0])
        == 10 * 1024 * 1024 + len(b"register:127.0.0.1:8900 \xff\xfe\xc3(\n") - 1
    )

    assert endless["status"] == "timed_out" and endless["reason"] == "printed nothing for 1.5 s"
    assert b"waiting\n" in ci.log(endless["id"])

    assert leaky["status"] == "passed"
    pid = int(ci.log(leaky["id"]).split(b"\ngrandchild ")[1].split()[0])
    wait_until(
        lambda: not os.path.exists(f"/proc/{pid}") or zombie(pid), timeout=5, what="the grandchild to die"
    )

    assert junit["status"] == "failed" and junit["exit_code"] == 1
    assert junit["counts"] == {"tests": 5, "failures": 2, "errors": 0, "skipped": 1}


def zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


PRINTS_ITS_PID = "echo pid $$; while true; do echo still here; sleep 0.2; done"


def test_cancel_stops_a_running_build_and_its_process_group(start_ci, git_repo):
    repo = {"name": "demo", "url": str(git_repo.path), "command": PRINTS_ITS_PID}
    following = {"name": "next", "url": str(git_repo.path), "command": "echo next"}
    ci = start_ci([repo, following], lease_seconds=1.5)
    ci.runner("r1")
    ci.queue(repo, [git_repo.commits[0]])
    running = wait_until(lambda: ci.running_with_output(b"still here"), what="the build to run")
    pid = int(ci.log(running["id"]).split(b"\npid ")[1].split()[0])
    status, cancelled = ci.api(f"/api/ci/builds/{running['id']}/cancel", "POST")
    assert status == 200 and cancelled["status"] == "cancelled"
    wait_until(
        lambda: not os.path.exists(f"/proc/{pid}") or zombie(pid), what="the build's shell to be stopped"
    )
    # The runner is free again: the next build runs (and is cancelled while queued: never started).
    ci.queue(following, [push_commit(git_repo)])
    builds = ci.wait_finished(2)
    assert [b["status"] for b in builds] == ["cancelled", "passed"]
    assert ci.build(running["id"])["attempts"][0]["status"] == "cancelled"


def push_commit(git_repo) -> str:
    return git_repo.commit({"next": "1"}, "next")


def test_a_runner_restarted_after_a_crash_gives_its_build_back_at_once(start_ci, git_repo):
    repo = {"name": "demo", "url": str(git_repo.path), "command": PRINTS_ITS_PID}
    ci = start_ci([repo], lease_seconds=600.0)  # only the restart can free the build quickly
    crashed = ci.runner("r1")
    ci.queue(repo, [git_repo.commits[0]])
    running = wait_until(lambda: ci.running_with_output(b"still here"), what="the build to run")
    pid = int(ci.log(running["id"]).split(b"\npid ")[1].split()[0])
    crashed.send_signal(signal.SIGKILL)
    crashed.wait()
    ci.runner("r1")
    wait_until(
        lambda: not os.path.exists(f"/proc/{pid}") or zombie(pid), what="the orphaned build to be stopped"
    )
    wait_until(lambda: ci.build(running["id"])["attempt"] == 2, what="a second attempt")
    first = ci.build(running["id"])["attempts"][0]
    assert first["status"] == "lost" and first["reason"] == "runner r1 restarted without it"
