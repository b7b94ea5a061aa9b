"""Build commands in real subprocesses: any output, time-outs, and nothing left behind."""

import os
import sys
import threading

import pytest

from appliance.ci.process import Command, Limits
from tests.conftest import wait_until
from tests.harness import alive

LIMITS = Limits(timeout_seconds=30, silence_seconds=30, kill_grace_seconds=1, max_log_bytes=64 * 1024 * 1024)


def run(tmp_path, script, limits=LIMITS, stop_after=None, secrets=()):
    log_path = tmp_path / "log"
    with log_path.open("ab") as log:
        command = Command(
            [sys.executable, "-c", script], tmp_path, dict(os.environ), log, limits, secrets=secrets
        )
        if stop_after is not None:
            threading.Timer(stop_after, command.stop, args=("cancelled",)).start()
        outcome = command.run()
    return outcome, log_path.read_bytes()


def test_ten_megabytes_of_output_arrive_whole(tmp_path):
    outcome, log = run(
        tmp_path, "import sys\nfor i in range(10 * 1024):\n    sys.stdout.write('x' * 1023 + '\\n')"
    )
    assert outcome.exit_code == 0 and not outcome.log_cut
    assert len(log) == 10 * 1024 * 1024


def test_output_beyond_the_maximum_is_cut(tmp_path):
    limits = Limits(timeout_seconds=30, silence_seconds=30, kill_grace_seconds=1, max_log_bytes=1000)
    outcome, log = run(tmp_path, "print('y' * 5000)", limits)
    assert outcome.log_cut and log == b"y" * 1000 and outcome.exit_code == 0


def test_colons_and_invalid_utf8_are_kept_byte_for_byte(tmp_path):
    script = (
        "import sys\n"
        "sys.stdout.buffer.write(b'register:127.0.0.1:8900\\n\\xff\\xfe bad \\xc3(\\n')\n"
        "sys.exit(3)"
    )
    outcome, log = run(tmp_path, script)
    assert log == b"register:127.0.0.1:8900\n\xff\xfe bad \xc3(\n"
    assert outcome.exit_code == 3 and outcome.stopped_for is None


def test_known_secrets_are_masked_before_the_log_even_when_split_between_two_writes(tmp_path):
    script = (
        "import sys, time\n"
        "out = sys.stdout.buffer\n"
        "out.write(b'token=hunt'); out.flush(); time.sleep(0.2)\n"
        "out.write(b'er2-token, short=abc, again hunter2-token')"
    )
    outcome, log = run(tmp_path, script, secrets=["hunter2-token", "abc"])
    assert log == b"token=***, short=abc, again ***" and outcome.exit_code == 0


def test_a_command_that_never_ends_is_stopped_at_the_timeout(tmp_path):
    limits = Limits(timeout_seconds=0.5, silence_seconds=30, kill_grace_seconds=1, max_log_bytes=1000)
    outcome, _ = run(
        tmp_path, "import time\nwhile True:\n    print('.', flush=True)\n    time.sleep(0.05)", limits
    )
    assert outcome.stopped_for == "timeout" and outcome.exit_code == -15


def test_a_silent_command_is_stopped_at_the_silence_timeout(tmp_path):
    limits = Limits(timeout_seconds=30, silence_seconds=0.3, kill_grace_seconds=1, max_log_bytes=1000)
    outcome, log = run(tmp_path, "import time\nprint('started', flush=True)\ntime.sleep(60)", limits)
    assert outcome.stopped_for == "silence" and log == b"started\n"


def test_a_command_ignoring_sigterm_gets_sigkill_after_the_grace_period(tmp_path):
    limits = Limits(timeout_seconds=0.3, silence_seconds=30, kill_grace_seconds=0.2, max_log_bytes=1000)
    script = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('x', flush=True)\n"
        "time.sleep(60)"
    )
    outcome, _ = run(tmp_path, script, limits)
    assert outcome.stopped_for == "timeout" and outcome.exit_code == -9


def test_a_grandchild_left_behind_is_killed_with_the_group(tmp_path):
    script = (
        "import subprocess, sys\n"
        "child = subprocess.Popen(['sleep', '300'])\n"
        "print(child.pid, flush=True)\n"
        "sys.exit(0)  # the child is left running"
    )
    outcome, log = run(tmp_path, script)
    assert outcome.exit_code == 0
    grandchild = int(log.split()[0])
    wait_until(lambda: not alive(grandchild), timeout=5, what="the grandchild to be killed")


def test_a_stop_request_ends_a_running_command(tmp_path):
    outcome, _ = run(tmp_path, "import time\nprint('x', flush=True)\ntime.sleep(60)", stop_after=0.3)
    assert outcome.stopped_for == "cancelled" and outcome.exit_code == -15


@pytest.mark.parametrize("status", [0, 1])
def test_the_exit_code_is_the_commands(tmp_path, status):
    assert run(tmp_path, f"raise SystemExit({status})")[0].exit_code == status
