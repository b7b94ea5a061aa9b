"""A build made of named stages: progress on the terminal, each stage's time, one build log.

Every command's output goes to the build log, not the terminal; the terminal shows one line as a
stage starts and one as it ends, with its time. When a stage fails, the terminal shows the end of
that stage's part of the log and where the whole log is.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

# Lines of the failing stage's log shown on the terminal.
FAILURE_TAIL_LINES = 40


class StageFailed(Exception):
    """A stage failed; its log's end has been shown."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"stage {stage!r} failed: {reason}")
        self.stage = stage
        self.reason = reason


@dataclass
class StageTime:
    name: str
    seconds: float


@dataclass
class Stages:
    """Runs a build's stages in order, logging to ``log_path``."""

    log_path: Path
    total: int
    terminal: TextIO = field(default_factory=lambda: sys.stderr)
    times: list[StageTime] = field(default_factory=list)
    _current: str | None = None
    _stage_start_offset: int = 0

    def __post_init__(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a", encoding="utf-8", errors="replace")

    def close(self) -> None:
        self._log.close()

    def say(self, message: str) -> None:
        print(message, file=self.terminal, flush=True)
        self.note(message)

    def note(self, message: str) -> None:
        """A line in the build log only."""
        self._log.write(message + "\n")
        self._log.flush()

    @contextmanager
    def stage(self, name: str, description: str) -> Iterator[None]:
        number = len(self.times) + 1
        self._current = name
        self._log.flush()
        self._stage_start_offset = self.log_path.stat().st_size
        self.say(f"[{number}/{self.total}] {description} ...")
        self.note(f"==> stage {name} started {time.strftime('%Y-%m-%dT%H:%M:%S%z')}")
        start = time.monotonic()
        try:
            yield
        except StageFailed:
            raise
        except subprocess.CalledProcessError as exc:
            command = shlex.join(str(part) for part in exc.cmd)
            if len(command) > 160:
                command = command[:160] + "..."
            self._fail(name, f"{command} exited with status {exc.returncode}", time.monotonic() - start)
        except (OSError, ValueError) as exc:
            self._fail(name, str(exc), time.monotonic() - start)
        except KeyboardInterrupt:
            elapsed = time.monotonic() - start
            self.say(f"      interrupted in stage {name} after {elapsed:.0f} s")
            raise
        else:
            elapsed = time.monotonic() - start
            self.times.append(StageTime(name, elapsed))
            self.say(f"      {name}: {elapsed:.0f} s")
        finally:
            self._current = None

    def _fail(self, name: str, reason: str, elapsed: float) -> None:
        self.note(f"==> stage {name} FAILED after {elapsed:.0f} s: {reason}")
        self._log.flush()
        with self.log_path.open("rb") as log:
            log.seek(self._stage_start_offset)
            lines = log.read().decode("utf-8", "replace").splitlines()
        print(f"      FAILED: stage {name} after {elapsed:.0f} s: {reason}", file=self.terminal)
        print(f"      the end of its log ({self.log_path}):", file=self.terminal)
        for line in lines[-FAILURE_TAIL_LINES:]:
            print(f"      | {line}", file=self.terminal)
        self.terminal.flush()
        raise StageFailed(name, reason)

    def run(
        self,
        argv: Sequence[str | os.PathLike],
        *,
        input: bytes | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        success: Sequence[int] = (0,),
    ) -> None:
        """Run a command, its output into the build log; an exit status not in ``success`` fails
        the stage."""
        argv = [os.fspath(arg) for arg in argv]
        self.note("$ " + " ".join(argv))
        self._log.flush()
        finished = subprocess.run(
            argv,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=None if env is None else {**os.environ, **env},
            cwd=cwd,
        )
        if finished.returncode not in success:
            raise subprocess.CalledProcessError(finished.returncode, argv)

    def output(
        self,
        argv: Sequence[str | os.PathLike],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> str:
        """Run a command and return its standard output; its errors go into the build log."""
        argv = [os.fspath(arg) for arg in argv]
        self.note("$ " + " ".join(argv))
        self._log.flush()
        return subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=None if env is None else {**os.environ, **env},
            cwd=cwd,
            check=True,
            text=True,
        ).stdout

    def summary(self) -> str:
        total = sum(t.seconds for t in self.times)
        parts = ", ".join(f"{t.name} {t.seconds:.0f} s" for t in self.times)
        return f"{total:.0f} s in all ({parts})"
