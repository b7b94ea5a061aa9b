"""A build command in a subprocess of its own process group, never in the runner's interpreter
(the seed's in-process ``unittest.discover`` tested stale modules and could take the runner down).

Output (stdout and stderr together, as bytes: any encoding, any size) goes to a log file, cut at
a maximum size. The command ends by itself, or is stopped on a total time-out, a silence
time-out, or a request (cancel, lost lease, runner stopping): SIGTERM to the whole group, then
SIGKILL after a grace period. A grandchild left behind after the command ended is stopped the same
way, so nothing outlives its build. Known secret values are masked before the output is written, so
the log file, and every byte offset the runner ships from it, only ever holds the masked output.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from appliance.ci.build_user import BuildUser

READ_SIZE = 64 * 1024
MASK = b"***"
# Shorter values are all over any log (a "1", a "yes"): masking them would garble it and hide
# nothing that a guess would not find.
MIN_SECRET_LENGTH = 4


@dataclass(frozen=True)
class Limits:
    timeout_seconds: float
    silence_seconds: float
    kill_grace_seconds: float
    max_log_bytes: int


@dataclass(frozen=True)
class Outcome:
    exit_code: int | None
    seconds: float
    stopped_for: str | None  # why the runner stopped it: "timeout", "silence", or a stop() reason
    log_cut: bool


class SecretMask:
    """Replaces known secret values in a stream of output with ``***``, as hosted CIs do, also
    when a value arrives split across two reads: an end of the output that could begin a secret
    is held back until the next read (or the end) shows whether it does. Only such an end is held,
    never simply the last len(longest secret) - 1 bytes, so that a line printed reaches the live
    log at once."""

    def __init__(self, secrets: Iterable[str]):
        values = {secret.encode() for secret in secrets if len(secret) >= MIN_SECRET_LENGTH}
        # The longest first: a secret containing another is masked whole.
        self._secrets = sorted(values, key=len, reverse=True)
        self._pattern = re.compile(b"|".join(re.escape(secret) for secret in self._secrets))
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        """The output that can be written now, masked."""
        return self._release(self._held + data, final=False)

    def end(self) -> bytes:
        """What was held back, masked: the output has ended."""
        return self._release(self._held, final=True)

    def _release(self, output: bytes, final: bool) -> bytes:
        if not self._secrets:
            return output
        safe_end = len(output) if final else len(output) - self._unfinished_secret_length(output)
        parts = []
        position = 0
        for match in self._pattern.finditer(output):
            if match.start() >= safe_end:
                break
            parts += [output[position : match.start()], MASK]
            position = match.end()
        released = max(safe_end, position)
        parts.append(output[position:released])
        self._held = output[released:]
        return b"".join(parts)

    def _unfinished_secret_length(self, output: bytes) -> int:
        """The length of the longest end of ``output`` that begins a secret but does not complete it."""
        for start in range(max(0, len(output) - len(self._secrets[0]) + 1), len(output)):
            end = output[start:]
            if any(len(secret) > len(end) and secret.startswith(end) for secret in self._secrets):
                return len(end)
        return 0


class Command:
    def __init__(
        self,
        argv: list[str],
        cwd: Path,
        env: dict[str, str],
        log: BinaryIO,
        limits: Limits,
        on_output: Callable[[], None] = lambda: None,
        secrets: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
        build_user: BuildUser | None = None,
    ):
        """``build_user``: run the command as that user, through sudo (``appliance.ci.build_user``);
        None: as the runner's own user."""
        self.argv = argv
        self.cwd = cwd
        self.env = env
        self.log = log
        self.limits = limits
        self.on_output = on_output
        self.mask = SecretMask(secrets)
        self.clock = clock
        self.build_user = build_user
        self._changed = threading.Event()
        self._stop_reason: str | None = None
        self._last_output = 0.0
        self._written = 0
        self._log_cut = False

    def stop(self, reason: str) -> None:
        """Ask the running command to stop (from any thread, before or while it runs)."""
        if self._stop_reason is None:
            self._stop_reason = reason
        self._changed.set()

    def run(self, on_start: Callable[[int], None] = lambda pgid: None) -> Outcome:
        """Start the command and wait until it ends or is stopped; no polling: the wait wakes at
        the exit, at a stop request, or at the next deadline."""
        started = self._last_output = self.clock()
        process = self._start()
        pgid = process.pid
        on_start(pgid)
        reader = threading.Thread(
            target=self._read, args=(process.stdout,), name=f"output-{pgid}", daemon=True
        )
        reader.start()
        threading.Thread(target=self._await_exit, args=(process,), name=f"wait-{pgid}", daemon=True).start()
        stopped_for = None
        while process.poll() is None:
            now = self.clock()
            if self._stop_reason is not None:
                stopped_for = self._stop_reason
            elif now - started >= self.limits.timeout_seconds:
                stopped_for = "timeout"
            elif now - self._last_output >= self.limits.silence_seconds:
                stopped_for = "silence"
            if stopped_for is not None:
                self._kill_group(pgid)
                break
            deadline = min(
                started + self.limits.timeout_seconds, self._last_output + self.limits.silence_seconds
            )
            self._changed.wait(max(0.0, deadline - now))
            self._changed.clear()
        exit_code = process.wait()
        seconds = self.clock() - started
        self._kill_group(pgid)  # whatever the command left behind in its group
        reader.join(timeout=self.limits.kill_grace_seconds + 1)
        process.stdout.close()
        return Outcome(exit_code=exit_code, seconds=seconds, stopped_for=stopped_for, log_cut=self._log_cut)

    def _start(self) -> subprocess.Popen:
        """The command in its own process group: killed as a whole, never the runner."""
        if self.build_user is None:
            return subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = subprocess.Popen(
            self.build_user.argv(self.argv, self.cwd),
            cwd="/",
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},  # sudo's: nothing of the runner's
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # sudo and the command it starts: one group
        )
        try:
            process.stdin.write(self.build_user.environment_input(self.env))
            process.stdin.close()
        except BrokenPipeError:  # sudo refused: it said why on the output, which is the log
            pass
        return process

    def _await_exit(self, process: subprocess.Popen) -> None:
        process.wait()
        self._changed.set()

    def _read(self, pipe: BinaryIO) -> None:
        while chunk := os.read(pipe.fileno(), READ_SIZE):
            self._last_output = self.clock()
            self._write(self.mask.feed(chunk))
        self._write(self.mask.end())

    def _write(self, output: bytes) -> None:
        room = self.limits.max_log_bytes - self._written
        if room < len(output):
            self._log_cut = True
        if room > 0 and output:
            self.log.write(output[:room])
            self.log.flush()
            self._written += min(room, len(output))
            self.on_output()

    def _kill_group(self, pgid: int) -> None:
        """SIGTERM to the group, SIGKILL to what is left after the grace period."""
        if not _group_alive(pgid):
            return
        self._signal(pgid, signal.SIGTERM)
        deadline = self.clock() + self.limits.kill_grace_seconds
        while _group_alive(pgid) and self.clock() < deadline:
            # Bounded by the grace period, and only while a group is being stopped.
            time.sleep(0.02)
        if _group_alive(pgid):
            self._signal(pgid, signal.SIGKILL)

    def _signal(self, pgid: int, signum: int) -> None:
        # The runner may not signal another user's processes: the build user signals its own.
        if self.build_user is None:
            _signal_group(pgid, signum)
        else:
            self.build_user.signal_group(pgid, signum)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # there are processes, of another user (the build user's, sudo)
        return True
    return True


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def kill_leftover_group(pgid: int, inside: Path, build_user: BuildUser | None = None) -> bool:
    """After a runner crash: stop the group of a build it left running, if its leader still works
    inside that build's directory (a pid alone could have been reused). With a build user the
    leader is sudo, whose working directory only root may see: its arguments name the directory
    the command was started in."""
    if build_user is not None:
        try:
            cmdline = Path(f"/proc/{pgid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return False
        cwd = build_user.cwd_of(cmdline.split("\0"))
        if cwd is None or not cwd.is_relative_to(inside):
            return False
        build_user.signal_group(pgid, signal.SIGKILL)
        return True
    try:
        cwd = Path(os.readlink(f"/proc/{pgid}/cwd"))
    except OSError:
        return False
    if not cwd.is_relative_to(inside):
        return False
    _signal_group(pgid, signal.SIGKILL)
    return True
