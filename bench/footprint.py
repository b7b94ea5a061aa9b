#!/usr/bin/env python3
"""Memory and idle CPU of every program of the stack, and the server's cold start time.

Starts the whole stack (the configuration `appliance stack up` runs, with supervisord logging
every XML-RPC call) on a temporary data directory and a free port, with a CI repository so that
the observer and a runner run and the monitor follows the appliance's own CI. Waits until every
program is RUNNING, then reads /proc over an idle window with no page open: resident memory
(VmRSS, PSS) of each program and of supervisord, the CPU time each used, and how many calls
supervisord answered. Then starts `appliance server` alone several times and reports the time
from exec to the first good /healthz.

    .venv/bin/python bench/footprint.py [--idle-seconds 30] [--starts 5]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from support import free_port, wait_for

from appliance.supervisor import Supervisor, SupervisorUnavailable

BIN = Path(sys.executable).parent
TICKS = os.sysconf("SC_CLK_TCK")


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
            return json.loads(response.read())["ok"]
    except OSError:
        return False


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages (libpython, libcrypto...) divided among the processes
    that share them, so the sum over the stack is the memory it really takes."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise RuntimeError(f"no Pss for {pid}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def write_config(directory: Path, port: int, ci_repo: Path | None = None) -> Path:
    config = directory / "appliance.toml"
    text = f'data_dir = "{directory / "data"}"\n[server]\nport = {port}\n'
    if ci_repo is not None:
        # One repository to watch, so that the stack runs its observer and a runner too.
        text += f'[ci]\nrunners = 1\n[[ci.repos]]\nname = "app"\nurl = "{ci_repo}"\n'
    config.write_text(text)
    return config


def make_repository(path: Path) -> Path:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
    path.mkdir()
    (path / "tests").mkdir()
    (path / "tests" / "test_ok.py").write_text("import unittest\n\nclass T(unittest.TestCase):\n"
                                               "    def test_ok(self):\n        pass\n")  # fmt: skip
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "first"]):
        subprocess.run(["git", "-C", str(path), *args], check=True, env=env)
    return path


def start_stack(config: Path, data_dir: Path) -> subprocess.Popen:
    """supervisord with the stack's own configuration, logging each XML-RPC call it answers."""
    generated = subprocess.run(
        [str(BIN / "appliance"), "stack", "generate", "--config", str(config)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for sub in ("run", "logs"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    conf = data_dir / "run" / "supervisord.conf"
    conf.write_text(generated.replace("[supervisord]\n", "[supervisord]\nloglevel = trace\n", 1))
    return subprocess.Popen(
        [str(BIN / "supervisord"), "--nodaemon", "--configuration", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def supervisord_calls(data_dir: Path) -> int:
    log = (data_dir / "logs" / "supervisord.log").read_text(errors="replace")
    return log.count("XML-RPC method called")


def measure_stack(directory: Path, idle_seconds: float) -> None:
    port = free_port()
    config = write_config(directory, port, make_repository(directory / "repo"))
    stack = start_stack(config, directory / "data")
    supervisor = Supervisor(directory / "data" / "run" / "supervisor.sock")

    def all_running() -> bool:
        try:
            processes = supervisor.processes()
        except SupervisorUnavailable:
            return False
        return bool(processes) and all(p.state == "RUNNING" for p in processes)

    try:
        wait_for(all_running)
        wait_for(lambda: healthy(f"http://127.0.0.1:{port}"))
        pids = {"supervisord": stack.pid} | {p.full_name: p.pid for p in supervisor.processes()}
        time.sleep(5)  # let start-up work (the first build of the repository) settle
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        calls_before = supervisord_calls(directory / "data")
        started = time.monotonic()
        time.sleep(idle_seconds)
        elapsed = time.monotonic() - started
        calls = supervisord_calls(directory / "data") - calls_before
        print(f"{'program':<24} {'RSS MiB':>8} {'PSS MiB':>8} {'idle CPU %':>11}")
        total_rss = total_pss = total_cpu = 0.0
        for name, pid in pids.items():
            rss = rss_kib(pid) / 1024
            pss = pss_kib(pid) / 1024
            cpu = 100 * (cpu_seconds(pid) - before[name]) / elapsed
            total_rss, total_pss, total_cpu = total_rss + rss, total_pss + pss, total_cpu + cpu
            print(f"{name:<24} {rss:>8.1f} {pss:>8.1f} {cpu:>11.2f}")
        print(
            f"{'total':<24} {total_rss:>8.1f} {total_pss:>8.1f} {total_cpu:>11.2f}   (idle {elapsed:.0f} s)"
        )
        print(f"supervisord calls per minute while idle: {calls * 60 / elapsed:.1f}")
    finally:
        stack.send_signal(signal.SIGTERM)
        stack.wait(timeout=30)


def measure_cold_start(directory: Path, starts: int) -> None:
    times = []
    for n in range(starts):
        port = free_port()
        run_dir = directory / f"start{n}"
        run_dir.mkdir()
        config = write_config(run_dir, port)
        began = time.monotonic()
        server = subprocess.Popen(
            [str(BIN / "appliance"), "server", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda port=port: healthy(f"http://127.0.0.1:{port}"))
            times.append(time.monotonic() - began)
        finally:
            server.terminate()
            server.wait(timeout=15)
    print(
        f"server cold start to first /healthz: median {statistics.median(times):.2f} s, "
        f"min {min(times):.2f} s, max {max(times):.2f} s over {starts} starts (new database each time)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="footprint-") as tmp:
        measure_stack(Path(tmp), args.idle_seconds)
        measure_cold_start(Path(tmp), args.starts)


if __name__ == "__main__":
    main()
