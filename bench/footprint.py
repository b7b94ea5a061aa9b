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
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from support import describe, rss_kib

from appliance.supervisor import Supervisor, SupervisorUnavailable
from tests.harness import (
    APPLIANCE,
    VENV_BIN,
    ApplianceServer,
    ci_config,
    free_port,
    healthy,
    passing_repo,
    stop_process,
    wait_until,
    write_config,
)

TICKS = os.sysconf("SC_CLK_TCK")


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


def start_stack(config: Path, data_dir: Path) -> subprocess.Popen:
    """supervisord with the stack's own configuration, logging each XML-RPC call it answers."""
    generated = subprocess.run(
        [APPLIANCE, "stack", "generate", "--config", str(config)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for sub in ("run", "logs"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    conf = data_dir / "run" / "supervisord.conf"
    conf.write_text(generated.replace("[supervisord]\n", "[supervisord]\nloglevel = trace\n", 1))
    return subprocess.Popen(
        [str(VENV_BIN / "supervisord"), "--nodaemon", "--configuration", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def supervisord_calls(data_dir: Path) -> int:
    log = (data_dir / "logs" / "supervisord.log").read_text(errors="replace")
    return log.count("XML-RPC method called")


def measure_stack(directory: Path, idle_seconds: float) -> None:
    port = free_port()
    repo = passing_repo(directory / "repo")
    # One repository to watch, so that the stack runs its observer and a runner too.
    ci = ci_config([{"name": "app", "url": str(repo.path)}], runners=1)
    config = write_config(directory / "appliance.toml", directory / "data", port, ci)
    stack = start_stack(config, directory / "data")
    supervisor = Supervisor(directory / "data" / "run" / "supervisor.sock")

    def all_running() -> bool:
        try:
            processes = supervisor.processes()
        except SupervisorUnavailable:
            return False
        return bool(processes) and all(p.state == "RUNNING" for p in processes)

    try:
        wait_until(all_running, timeout=60, interval=0.01, what="every program RUNNING")
        wait_until(lambda: healthy(f"http://127.0.0.1:{port}"), timeout=60, interval=0.01)
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
        stop_process(stack)


def measure_cold_start(directory: Path, starts: int) -> None:
    times = []
    for n in range(starts):
        server = ApplianceServer(directory / f"start{n}")
        began = time.monotonic()
        try:
            server.start(interval=0.01)
            times.append(time.monotonic() - began)
        finally:
            server.stop()
    print(f"server cold start to first /healthz: {describe(times, digits=2)} starts (new database each time)")


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
