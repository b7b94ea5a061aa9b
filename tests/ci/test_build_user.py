"""Builds as a user of their own (``[ci] build_user``), for real: sudo, and ``nobody`` as the build
user. The tests run as root, whom sudo lets become anyone (the ci role's sudoers rule lets the
appliance's user become the build user alone; Molecule proves that part).

Root could signal and remove the build user's things itself; the code under test never does: it
signals and removes as the build user, and what the tests check is what the build user's commands
did (the owner of the files, the uid of the processes, the processes gone).
"""

import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from appliance.ci.build_user import BuildUser
from appliance.ci.process import Command, Limits
from appliance.ci.workspace import Workspace
from tests.conftest import wait_until
from tests.harness import GitRepo, alive, passing_repo

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("sudo") or not os.access("/usr/bin/python3", os.X_OK),
    reason="needs root, sudo (make setup-test installs it) and /usr/bin/python3",
)

LIMITS = Limits(timeout_seconds=30, silence_seconds=30, kill_grace_seconds=1, max_log_bytes=1024 * 1024)
PYTHON = "/usr/bin/python3"  # one the build user can run (the tests' may live in root's home)


@pytest.fixture
def nobody():
    return pwd.getpwnam("nobody")


@pytest.fixture
def build_root(nobody):
    """A directory of the build user's, where it can reach it (pytest's tmp_path is root's alone)."""
    root = Path(tempfile.mkdtemp(prefix="appliance-build-"))
    root.chmod(0o755)
    os.chown(root, nobody.pw_uid, nobody.pw_gid)
    yield root
    shutil.rmtree(root)


def run(build_root, script, env=None, limits=LIMITS, stop_after=None):
    log_path = build_root.parent / f"{build_root.name}.log"
    try:
        with log_path.open("ab") as log:
            command = Command(
                [PYTHON, "-c", script],
                build_root,
                env or {"PATH": "/usr/bin:/bin"},
                log,
                limits,
                build_user=BuildUser("nobody", python=PYTHON),
            )
            if stop_after is not None:
                threading.Timer(stop_after, command.stop, args=("cancelled",)).start()
            outcome = command.run()
        return outcome, log_path.read_bytes()
    finally:
        log_path.unlink()


def test_a_build_runs_as_the_build_user_with_exactly_its_environment_and_no_secret_in_any_arguments(
    build_root, nobody
):
    env = {
        "PATH": "/opt/tools/bin:/usr/bin:/bin",  # sudo's secure_path would have replaced it
        "PYTHONPATH": "src",  # and sudo's env_delete dropped these
        "LD_LIBRARY_PATH": "/opt/tools/lib",
        "LC_ALL": "C.UTF-8",  # else the Python of the test adds LC_CTYPE (PEP 538)
        "HOME": str(build_root),
        "DEPLOY_TOKEN": "secret-of-the-build-9d2f",
    }
    script = (
        "import json, os, glob\n"
        "arguments = []\n"
        "for path in glob.glob('/proc/[0-9]*/cmdline'):\n"
        "    try:\n"
        "        arguments.append(open(path, 'rb').read())\n"
        "    except OSError:\n"
        "        pass\n"
        "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'groups': os.getgroups(),\n"
        "    'cwd': os.getcwd(), 'env': dict(os.environ), 'stdin': os.read(0, 10).decode(),\n"
        "    'token_in_arguments': any(b'secret-of-' + b'the-build' in a for a in arguments)}))\n"
    )
    outcome, log = run(build_root, script, env)
    assert outcome.exit_code == 0, log
    seen = json.loads(log)
    assert (seen["uid"], seen["gid"]) == (nobody.pw_uid, nobody.pw_gid)
    assert 0 not in seen["groups"]
    assert seen["cwd"] == str(build_root)
    assert seen["env"] == env
    assert seen["stdin"] == ""  # the environment came on standard input, which is then /dev/null
    assert seen["token_in_arguments"] is False


def test_a_build_ignoring_sigterm_is_killed_through_sudo_with_what_it_left_behind(build_root):
    limits = Limits(timeout_seconds=1, silence_seconds=30, kill_grace_seconds=0.5, max_log_bytes=1000)
    script = (
        "import signal, subprocess, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    outcome, log = run(build_root, script, limits=limits)
    assert outcome.stopped_for == "timeout" and outcome.exit_code == -9
    wait_until(lambda: not alive(int(log.split()[0])), timeout=5, what="the build's child to be killed")


def test_a_stop_request_ends_a_build_of_the_build_user(build_root):
    outcome, _ = run(build_root, "import time\nprint('x', flush=True)\ntime.sleep(60)", stop_after=0.5)
    assert outcome.stopped_for == "cancelled" and outcome.exit_code == -15


def test_sudo_refusing_is_the_builds_failure_with_sudos_words_in_the_log(build_root):
    with (build_root.parent / f"{build_root.name}.log").open("ab") as log:
        outcome = Command(
            ["true"], build_root, {}, log, LIMITS, build_user=BuildUser("no-such-user-here", python=PYTHON)
        ).run()
    log_text = (build_root.parent / f"{build_root.name}.log").read_text()
    (build_root.parent / f"{build_root.name}.log").unlink()
    assert outcome.exit_code != 0 and "no-such-user-here" in log_text


def owner(path: Path) -> int:
    return path.lstat().st_uid


def test_the_checkout_and_the_builds_directories_are_the_build_users_and_cleaned_as_it(
    tmp_path, build_root, nobody
):
    repo = passing_repo(tmp_path / "repo")
    first = repo.commits[0]
    second = repo.commit({"src/app.py": "print('hi')\n"}, "Add the app")
    url = f"file://alice:PW@{repo.path}"
    workspace = Workspace(tmp_path / "work", BuildUser("nobody", python=PYTHON), build_root)
    (tmp_path / "work" / "checkouts" / "demo-0").mkdir(parents=True)  # the runner's, from before
    workspace.clean_leftovers()
    assert not (tmp_path / "work" / "checkouts").exists()

    checkout = workspace.checkout("demo", url, first, 0)
    assert checkout.parent == build_root / "checkouts"
    assert owner(checkout) == owner(checkout / "tests" / "test_pass.py") == nobody.pw_uid
    assert "PW" not in (checkout / ".git" / "config").read_text()  # no URL of the mirror's

    # What a build leaves, even a directory it made unwritable, goes at the next checkout.
    BuildUser("nobody", python=PYTHON).run(
        ["sh", "-c", "mkdir -p junk/locked && touch junk/locked/f && chmod 0500 junk/locked"],
        checkout,
        {"PATH": "/usr/bin:/bin"},
    )
    again = workspace.checkout("demo", url, second, 0)
    assert again == checkout and not (checkout / "junk").exists()
    assert (checkout / "src" / "app.py").read_text() == "print('hi')\n"

    scratch = workspace.scratch(7, 1)
    assert owner(scratch / "home") == owner(scratch / "tmp") == nobody.pw_uid
    workspace.discard(7, 1)
    assert not scratch.exists()


def test_a_checkout_the_build_broke_is_made_again(tmp_path, build_root):
    repo: GitRepo = passing_repo(tmp_path / "repo")
    workspace = Workspace(tmp_path / "work", BuildUser("nobody", python=PYTHON), build_root)
    workspace.clean_leftovers()
    checkout = workspace.checkout("demo", str(repo.path), repo.commits[0], 0)
    BuildUser("nobody", python=PYTHON).run(["rm", "-rf", ".git/objects"], checkout, {"PATH": "/usr/bin:/bin"})
    assert workspace.checkout("demo", str(repo.path), repo.commits[0], 0) == checkout
    assert (checkout / "tests" / "test_pass.py").is_file()


def test_a_build_left_running_by_a_crashed_runner_is_killed_as_the_build_user(tmp_path, build_root):
    user = BuildUser("nobody", python=PYTHON)
    workspace = Workspace(tmp_path / "work", user, build_root)
    workspace.clean_leftovers()
    checkout = build_root / "checkouts" / "demo-0"
    user.make_directories(checkout)
    process = subprocess.Popen(
        user.argv(["sleep", "300"], checkout), stdin=subprocess.PIPE, cwd="/", start_new_session=True
    )
    process.stdin.write(user.environment_input({"PATH": "/usr/bin:/bin"}))
    process.stdin.close()
    build_dir = workspace.build_dir(3, 1)
    build_dir.mkdir(parents=True)
    (build_dir / "pgid").write_text(str(process.pid))
    assert (workspace.scratch(3, 1) / "home").is_dir()

    Workspace(tmp_path / "work", user, build_root).clean_leftovers()  # the runner, started again

    assert process.wait(timeout=5) == -signal.SIGKILL
    assert not build_dir.exists() and not (build_root / "builds" / "3-1").exists()
