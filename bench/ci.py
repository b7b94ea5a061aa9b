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
import functools
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from support import free_port
from support import wait_for as _wait_for

# Builds take a while to finish: a generous bound, a short poll.
wait_for = functools.partial(_wait_for, timeout=120.0, interval=0.01)

BIN = Path(sys.executable).parent
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.org",
    "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.org",
    "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
}  # fmt: skip
FINISHED = {"passed", "failed", "error", "cancelled", "timed_out"}


def git(directory: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(directory), *args], capture_output=True, text=True, env=GIT_ENV, check=True
    )
    return result.stdout.strip()


class Repo:
    """A working repository that pushes to a bare one, as a developer pushes to the team's."""

    def __init__(self, directory: Path, files: int = 1):
        self.work = directory / "work"
        self.remote = directory / "remote.git"
        self.work.mkdir(parents=True)
        git(self.work, "init", "--quiet", "--initial-branch=main")
        for index in range(files):
            path = self.work / f"src/{index // 100:02d}/file{index}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"file {index}\n")
        git(self.work, "add", "--all")
        git(self.work, "commit", "--quiet", "-m", "initial")
        subprocess.run(["git", "clone", "--quiet", "--bare", str(self.work), str(self.remote)], check=True)
        git(self.work, "remote", "add", "origin", str(self.remote))

    def commit(self, message: str) -> str:
        git(self.work, "commit", "--quiet", "--allow-empty", "-m", message)
        return git(self.work, "rev-parse", "HEAD")

    def push(self) -> None:
        git(self.work, "push", "--quiet", "origin", "main")


class CI:
    def __init__(self, directory: Path, repo: dict, **settings):
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = directory / "appliance.toml"
        lines = [f'data_dir = "{directory / "data"}"', "[server]", f"port = {self.port}", "[ci]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
        lines += ["[[ci.repos]]", *(f"{key} = {json.dumps(value)}" for key, value in repo.items())]
        self.config.write_text("\n".join(lines) + "\n")
        self.repo = repo
        self.processes: list[subprocess.Popen] = []
        self.start("server")
        wait_for(self.healthy, interval=0.05)
        self.token = (directory / "data" / "secrets" / "api-token").read_text().strip()

    def start(self, *args: str) -> None:
        log = (self.directory / f"{args[0]}-{len(self.processes)}.log").open("ab")
        with log:
            self.processes.append(
                subprocess.Popen(
                    [str(BIN / "appliance"), *args, "--config", str(self.config)], stdout=log, stderr=log
                )
            )

    def healthy(self) -> bool:
        try:
            return self.get("/healthz")["ok"]
        except OSError:
            return False

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            body = response.read()
        return body if "/log" in path else json.loads(body)

    def post(self, path: str, body: object = None) -> dict:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode() if body is not None else b"",
            method="POST",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    def builds(self) -> list[dict]:
        return self.get("/api/ci/builds?limit=1000")["builds"][::-1]

    def finished(self, count: int) -> list[dict] | None:
        builds = self.builds()
        if len(builds) >= count and all(b["status"] in FINISHED for b in builds):
            return builds
        return None

    def runners_registered(self, count: int) -> bool:
        return len(self.get("/api/ci/runners")["runners"]) >= count

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def command_start(ci: CI, build_id: int) -> float:
    log = ci.get(f"/api/ci/builds/{build_id}/log").decode()
    [line] = [line for line in log.splitlines() if line[:10].isdigit() and "." in line]
    return float(line)


def push_latency(directory: Path, pushes: int, poll_seconds: float, webhook: bool) -> list[float]:
    repo = Repo(directory)
    poll = 3600.0 if webhook else poll_seconds
    ci = CI(
        directory, {"name": "bench", "url": str(repo.remote), "command": "date +%s.%N", "poll_seconds": poll}
    )
    try:
        ci.start("runner", "--name", "r1")
        ci.start("observer")
        wait_for(lambda: ci.finished(1))
        latencies = []
        for n in range(pushes):
            if not webhook:  # land at a random phase of the poll interval
                time.sleep(poll_seconds * ((n * 0.37) % 1))
            sha = repo.commit(f"push {n}")
            repo.push()
            pushed = time.time()
            if webhook:
                ci.post("/api/ci/hooks/bench", {"ref": "refs/heads/main", "after": sha})
            builds = wait_for(lambda n=n: ci.finished(n + 2))
            assert builds[-1]["commit"] == sha, builds[-1]
            latencies.append(command_start(ci, builds[-1]["id"]) - pushed)
        return latencies
    finally:
        ci.stop()


def overhead(directory: Path, builds: int, files: int) -> tuple[list[float], list[float]]:
    repo = Repo(directory, files=files)
    shas = [repo.commit(f"build {n}") for n in range(builds)]
    repo.push()
    ci = CI(directory, {"name": "big", "url": str(repo.remote), "command": "true"})
    try:
        ci.start("runner", "--name", "r1")
        wait_for(lambda: ci.runners_registered(1))
        queue(ci, shas)
        done = wait_for(lambda: ci.finished(builds))
        walls, overheads = [], []
        for build in done:
            detail = ci.get(f"/api/ci/builds/{build['id']}")
            command = detail["attempts"][-1]["command_seconds"]
            walls.append(build["duration_seconds"])
            overheads.append(build["duration_seconds"] - command)
        return walls, overheads
    finally:
        ci.stop()


def queue(ci: CI, shas: list[str]) -> None:
    commits = [{"sha": sha, "author": "Bench", "message": "bench"} for sha in shas]
    ci.post("/api/ci/commits", {"repo": ci.repo["name"], "commits": commits})


def throughput(directory: Path, builds: int, runners: int) -> float:
    repo = Repo(directory)
    shas = [repo.commit(f"build {n}") for n in range(builds)]
    repo.push()
    ci = CI(directory, {"name": "many", "url": str(repo.remote), "command": "true"})
    try:
        for n in range(runners):
            ci.start("runner", "--name", f"r{n + 1}")
        wait_for(lambda: ci.runners_registered(runners))
        began = time.monotonic()
        queue(ci, shas)
        wait_for(lambda: ci.finished(builds), timeout=600, interval=0.1)
        return time.monotonic() - began
    finally:
        ci.stop()


def describe(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.3f} s, min {min(values):.3f} s, max {max(values):.3f} s "
        f"over {len(values)}"
    )


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
