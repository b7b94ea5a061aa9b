#!/usr/bin/env python3
"""The progress tracker's sustained ingest rate, on a real `appliance server`: 4 test machines
(threads, one keep-alive connection each) post a dry run of `--tests` tests, then each test's start
and stop as fast as the server answers. Prints events per second and each request's p50/p99.

    .venv/bin/python bench/progress.py [--clients 4] [--tests 1000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness import ApplianceServer


def post(conn: http.client.HTTPConnection, path: str, body: dict, token: str) -> int:
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    conn.request("POST", path, body=data, headers=headers)
    response = conn.getresponse()
    response.read()
    return response.status


def machine(port: int, token: str, name: str, tests: int, latencies: list[float], start: threading.Barrier):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    files = [{"file_path": "/bench", "file_name": f"test_{n:05d}.py", "script": ""} for n in range(tests)]
    scenario = {"file_path": "/bench", "file_name": "scenario.py", "tests": files}
    master = {"file_path": "/bench", "file_name": "master.py", "scenarios": [scenario]}
    dry_run = {"machine_name": name, "timestamp": "2018-12-30 13:01:57.461401", "master_scenario": master}
    assert post(conn, "/tm_api/dry_run/", dry_run, token) == 201
    start.wait()
    for test in files:
        report = {"machine_name": name, **test}
        for path, extra, expected in (
            ("/tm_api/test_start/", {"timestamp_start": "2018-12-30 13:01:58"}, 202),
            ("/tm_api/test_stop/", {"status": "passed", "timestamp_stop": "2018-12-30 13:01:59"}, 202),
        ):
            began = time.perf_counter()
            status = post(conn, path, {**report, **extra}, token)
            latencies.append(time.perf_counter() - began)
            assert status == expected, status
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--tests", type=int, default=1000, help="tests per machine's run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        server = ApplianceServer(Path(directory))
        server.start()
        try:
            token = server.token
            latencies: list[list[float]] = [[] for _ in range(args.clients)]
            start = threading.Barrier(args.clients + 1)
            threads = [
                threading.Thread(
                    target=machine, args=(server.port, token, f"m{n}", args.tests, latencies[n], start)
                )
                for n in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            start.wait()
            began = time.perf_counter()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - began
        finally:
            server.stop()
    every = sorted(value for values in latencies for value in values)
    percentiles = statistics.quantiles(every, n=100, method="inclusive")
    print(
        f"{len(every)} start/stop events from {args.clients} clients in {elapsed:.2f} s: "
        f"{len(every) / elapsed:.0f} events/s; latency p50 {percentiles[49] * 1000:.1f} ms, "
        f"p99 {percentiles[98] * 1000:.1f} ms, max {every[-1] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
