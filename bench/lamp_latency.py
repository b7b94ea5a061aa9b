#!/usr/bin/env python3
"""Latency from a state change at a source to the IR frame leaving lircd, on real processes.

A real lircd with Debian's `file` driver records every frame it sends as pulse/space lines; this
script watches that file grow (every millisecond) and decodes the frames with the NEC decoder the
tests use (`appliance.lamp.nec`). `appliance monitor` drives it through the real irsend, and
reports to a real `appliance server`.

1. A polled source: a fake Jenkins job (a small HTTP server in this script) read every
   `--interval` seconds (1 s). Its last build turns SUCCESS / FAILURE in turn, at phases spread
   over the interval; the latency runs from the change to the GREEN / RED frame (target: the
   interval + at most 100 ms), and from the first poll that saw the change to the frame.
2. The appliance's own CI, event-driven: the server has one `[[ci.repos]]`; this script is the
   runner (the CI's HTTP API, with the token). Each build is queued, claimed, then ends passed or
   failed in turn; the latency runs from the result POST to the GREEN / RED frame (and from the
   commits POST to the CYAN / PINK frame). Target: at most 250 ms.

    .venv/bin/python bench/lamp_latency.py [--changes 20] [--interval 1]
"""

from __future__ import annotations

import argparse
import functools
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from support import free_port
from support import wait_for as _wait_for

from appliance.lamp.keys import CODES
from appliance.lamp.nec import decode_nec

# A millisecond poll: the wait itself must not blur the latency being measured.
wait_for = functools.partial(_wait_for, timeout=30.0, interval=0.001)

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
KEYS = {code: key for key, code in CODES.items()}
JOB = "/job/bench"


class Lircd:
    """lircd with the file driver; ``keys()`` are the keys of the frames sent so far."""

    def __init__(self, directory: Path):
        directory.mkdir(parents=True)
        self.socket = directory / "lircd.sock"
        self.frames = directory / "frames"
        self._size, self._keys = -1, []
        self.process = subprocess.Popen(
            [
                "lircd", "--nodaemon", "--driver=file", f"--device={self.frames}",
                f"--output={self.socket}", f"--pidfile={directory / 'lircd.pid'}",
                f"--logfile={directory / 'lircd.log'}", str(ROOT / "lircd.conf"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self.socket.exists, interval=0.01)

    def keys(self) -> list[str]:
        try:
            size = self.frames.stat().st_size
        except FileNotFoundError:
            return []
        if size != self._size:  # decoded again only when lircd wrote something
            self._size, self._keys = size, [KEYS[code] for code in decode_nec(self.frames.read_text())]
        return self._keys

    def next_frame(self, sent_before: int) -> tuple[str, float]:
        """The key of the first frame after the first ``sent_before`` ones, and when it was seen."""
        keys = wait_for(lambda: (keys := self.keys())[sent_before:] and keys)
        return keys[sent_before], time.monotonic()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


class Stack:
    """A real `appliance server`, and `appliance monitor` processes started against it."""

    def __init__(self, directory: Path, lircd: Lircd):
        self.directory = directory
        self.lircd = lircd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.repo = '\n[[ci.repos]]\nname = "app"\nurl = "/srv/app.git"\n'
        self.server = self._start("server", self._config("server", self.repo))
        wait_for(self._healthy, interval=0.05)
        self.token = (directory / "data" / "secrets" / "api-token").read_text().strip()

    def _config(self, name: str, extra: str) -> Path:
        path = self.directory / f"{name}.toml"
        lirc = f'[lamp.lirc]\nsocket = "{self.lircd.socket}"\n'
        lamp = f'[lamp]\nbackend = "lirc"\nresend_seconds = 3600\n\n{lirc}'
        path.write_text(
            f'data_dir = "{self.directory / "data"}"\n\n[server]\nport = {self.port}\n\n{lamp}{extra}'
        )
        return path

    def _start(self, program: str, config: Path) -> subprocess.Popen:
        with (self.directory / f"{config.stem}.log").open("ab") as log:
            return subprocess.Popen(
                [str(BIN / "appliance"), program, "--config", str(config)], stdout=log, stderr=log
            )

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                return json.loads(response.read())["ok"]
        except OSError:
            return False

    def monitor(self, name: str, extra: str) -> subprocess.Popen:
        return self._start("monitor", self._config(name, extra))

    def post(self, path: str, body: object = None) -> dict | None:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body if body is not None else {}).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"null")

    @staticmethod
    def stop(process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


class FakeJob:
    """A Jenkins job whose last build result the script sets: `GET {JOB}/lastBuild/api/json`."""

    def __init__(self) -> None:
        self.number, self.result = 1, "SUCCESS"
        self.reads: list[tuple[float, int]] = []  # when each poll was answered, with which build
        job = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                number, result = job.number, job.result
                job.reads.append((time.monotonic(), number))
                body = json.dumps(
                    {"number": number, "url": f"{JOB}/{number}/", "result": result, "building": False}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{JOB}"

    def set(self, result: str) -> None:
        self.result, self.number = result, self.number + 1  # the number last: it marks the change

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def polled(stack: Stack, changes: int, interval: float) -> tuple[list[float], list[float]]:
    job = FakeJob()
    monitor = stack.monitor("polled", f'\n[[monitor.jenkins]]\njob = "{job.url}"\ninterval = {interval}\n')
    try:
        wait_for(lambda: stack.lircd.keys()[-1:] == ["GREEN"])
        latencies, after_poll = [], []
        for n in range(changes):
            result, key = ("FAILURE", "RED") if n % 2 == 0 else ("SUCCESS", "GREEN")
            time.sleep(interval * ((n * 0.618) % 1))  # spread over the phases of the poll
            sent = len(stack.lircd.keys())
            job.set(result)
            changed = time.monotonic()
            seen, at = stack.lircd.next_frame(sent)
            assert seen == key, (seen, key)
            latencies.append(at - changed)
            after_poll.append(at - next(read for read, number in job.reads if number == job.number))
        return latencies, after_poll
    finally:
        Stack.stop(monitor)
        job.stop()


def own_ci(stack: Stack, changes: int) -> tuple[list[float], list[float]]:
    monitor = stack.monitor("own-ci", stack.repo)
    stack.post("/api/ci/runners/bench/register", {"capacity": 1})
    try:
        wait_for(lambda: stack.lircd.keys()[-1:] == ["LIGHT_BLUE"])  # no build yet
        results, queued = [], []
        for n in range(changes):
            status, key = ("passed", "GREEN") if n % 2 == 0 else ("failed", "RED")
            building = "PINK" if n % 2 == 0 and n > 0 else "CYAN"  # after the last build's failure or not
            time.sleep(0.3)  # irsend returns once lircd has sent the last frame: start from a quiet lamp
            sent = len(stack.lircd.keys())
            began = time.monotonic()
            commit = {"sha": f"{n + 1:040x}", "author": "Bench", "message": f"build {n}"}
            stack.post(
                "/api/ci/commits",
                {"repo": {"name": "app", "url": "/srv/app.git", "branch": "main"}, "commits": [commit]},
            )
            seen, at = stack.lircd.next_frame(sent)
            assert seen == building, (seen, building)
            queued.append(at - began)
            work = stack.post("/api/ci/runners/bench/next?wait=0")
            time.sleep(0.3)  # the running build's event is handled: the result comes alone
            sent = len(stack.lircd.keys())
            began = time.monotonic()
            stack.post(
                f"/api/ci/builds/{work['build']}/attempts/{work['attempt']}/result",
                {"runner": "bench", "status": status},
            )
            seen, at = stack.lircd.next_frame(sent)
            assert seen == key, (seen, key)
            results.append(at - began)
        return results, queued
    finally:
        Stack.stop(monitor)


def describe(values: list[float]) -> str:
    p95 = statistics.quantiles(values, n=20, method="inclusive")[18]
    return (
        f"median {statistics.median(values):.3f} s, p95 {p95:.3f} s, "
        f"min {min(values):.3f} s, max {max(values):.3f} s over {len(values)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval of the polled source")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-lamp-") as tmp:
        root = Path(tmp)
        lircd = Lircd(root / "lirc")
        try:
            stack = Stack(root, lircd)
            try:
                latencies, after_poll = polled(stack, args.changes, args.interval)
                print(
                    f"polled source (Jenkins job, interval {args.interval:g} s), change -> frame: "
                    f"{describe(latencies)} (target <= {args.interval + 0.1:g} s)"
                )
                print(f"polled source, the first poll after the change -> frame: {describe(after_poll)}")
                results, queued = own_ci(stack, args.changes)
                print(f"own CI (events), result POST -> frame: {describe(results)} (target <= 0.25 s)")
                print(f"own CI (events), commits POST -> building frame: {describe(queued)}")
            finally:
                Stack.stop(stack.server)
        finally:
            lircd.stop()


if __name__ == "__main__":
    main()
