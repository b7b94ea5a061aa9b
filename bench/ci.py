#!/usr/bin/env python3
"""The CI's figures, on real processes: `appliance server`, `observer` and `runner`s.

1. Latency from `git push` (its end) to the runner starting the command, by webhook (the
   observer polls once an hour, a `POST /api/ci/hooks/<repo>` follows each push) and by
   polling (`poll_seconds`). The command is `date +%s.%N`: its output is when it started.
2. Per-build overhead on a repository of 2,000 files: the build's wall time on the server (from
   the runner's claim to the recorded result) minus the command's own time (`true`).
3. Throughput: 200 queued trivial builds (`true`) with 1, 2 and 4 runners.

    .venv/bin/python bench/ci.py [--pushes 10] [--poll-seconds 1] [--builds 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from support import describe

from tests.harness import CI, ApplianceServer, GitRepo, ci_config, wait_until


@contextmanager
def running_ci(directory: Path, repo: dict, files: int = 1) -> Iterator[tuple[CI, GitRepo]]:
    """A working repository of ``files`` files that pushes to a bare one, as a developer pushes
    to the team's, and a server whose CI builds the bare one as ``repo`` says; runners and
    observers are started on the CI."""
    work = GitRepo.init(directory / "work")
    work.commit({f"src/{n // 100:02d}/file{n}.txt": f"file {n}\n" for n in range(files)}, "initial")
    remote = work.bare_remote(directory / "remote.git")
    server = ApplianceServer(directory, extra_config=ci_config([{**repo, "url": str(remote)}]))
    ci = CI(server, directory)
    try:
        server.start()
        yield ci, work
    finally:
        ci.stop()
        server.stop()


def finished(ci: CI, count: int, timeout: float = 120, interval: float = 0.01) -> list[dict]:
    """The builds, once there are ``count`` and all have finished (builds take a while)."""
    return ci.wait_finished(count, timeout=timeout, interval=interval)


def start_runners(ci: CI, count: int) -> None:
    for n in range(count):
        ci.runner(f"r{n + 1}")
    wait_until(lambda: len(ci.runners()) >= count, timeout=120, interval=0.01, what=f"{count} runners")


def push_commits(work: GitRepo, count: int) -> list[str]:
    shas = [work.commit({}, f"build {n}") for n in range(count)]
    work.push()
    return shas


def command_start(ci: CI, build_id: int) -> float:
    log = ci.log(build_id).decode()
    [line] = [line for line in log.splitlines() if line[:10].isdigit() and "." in line]
    return float(line)


def push_latency(directory: Path, pushes: int, poll_seconds: float, webhook: bool) -> list[float]:
    poll = 3600.0 if webhook else poll_seconds
    repo = {"name": "bench", "command": "date +%s.%N", "poll_seconds": poll}
    with running_ci(directory, repo) as (ci, work):
        ci.runner("r1")
        ci.observer()
        finished(ci, 1)
        latencies = []
        for n in range(pushes):
            if not webhook:  # land at a random phase of the poll interval
                time.sleep(poll_seconds * ((n * 0.37) % 1))
            sha = work.commit({}, f"push {n}")
            work.push()
            pushed = time.time()
            if webhook:
                status, body = ci.api("/api/ci/hooks/bench", "POST", {"ref": "refs/heads/main", "after": sha})
                assert status < 300, (status, body)
            builds = finished(ci, n + 2)
            assert builds[-1]["commit"] == sha, builds[-1]
            latencies.append(command_start(ci, builds[-1]["id"]) - pushed)
        return latencies


def overhead(directory: Path, builds: int, files: int) -> tuple[list[float], list[float]]:
    repo = {"name": "big", "command": "true"}
    with running_ci(directory, repo, files=files) as (ci, work):
        start_runners(ci, 1)
        ci.queue(repo, push_commits(work, builds))
        walls, overheads = [], []
        for build in finished(ci, builds):
            command = ci.build(build["id"])["attempts"][-1]["command_seconds"]
            walls.append(build["duration_seconds"])
            overheads.append(build["duration_seconds"] - command)
        return walls, overheads


def throughput(directory: Path, builds: int, runners: int) -> float:
    repo = {"name": "many", "command": "true"}
    with running_ci(directory, repo) as (ci, work):
        start_runners(ci, runners)
        shas = push_commits(work, builds)
        began = time.monotonic()
        ci.queue(repo, shas)
        finished(ci, builds, timeout=600, interval=0.1)
        return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=10)
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    parser.add_argument("--builds", type=int, default=200)
    parser.add_argument("--overhead-builds", type=int, default=20)
    parser.add_argument("--files", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ci-") as tmp:
        root = Path(tmp)
        hooked = push_latency(root / "webhook", args.pushes, args.poll_seconds, webhook=True)
        print(f"push -> command start, by webhook: {describe(hooked)} (target <= 0.5 s)")
        polled = push_latency(root / "poll", args.pushes, args.poll_seconds, webhook=False)
        print(
            f"push -> command start, by polling every {args.poll_seconds:g} s: {describe(polled)} "
            f"(target <= {args.poll_seconds + 0.3:g} s)"
        )
        walls, overheads = overhead(root / "overhead", args.overhead_builds, args.files)
        print(f"build wall time on a {args.files}-file repository (command `true`): {describe(walls)}")
        print(f"per-build overhead (wall time minus the command's): {describe(overheads)} (target <= 0.5 s)")
        for runners in (1, 2, 4):
            seconds = throughput(root / f"throughput{runners}", args.builds, runners)
            print(
                f"{args.builds} queued trivial builds with {runners} runner(s): {seconds:.1f} s, "
                f"{args.builds / seconds:.1f} builds/s"
            )


if __name__ == "__main__":
    main()
