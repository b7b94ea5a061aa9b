"""How many live pages the server holds while its API still answers quickly.

Starts a real ``appliance server`` and opens ``/events`` streams in steps. At each step, while a
monitor report is published ten times a second (so every stream receives events, read by this
script), it times ``/healthz`` and reads the server's memory. It then resets a hundred streams
at once, as crashed clients do, and times the next ``/healthz``.

Prints, per step: open streams, ``/healthz`` p50 and p99 (ms), the server's RSS (MiB) and the
memory per open stream (KiB); then the largest step whose p99 stayed under 100 ms.

    .venv/bin/python bench/streams.py [--steps 0,100,250,500,1000,1500] [--requests 200]
"""

from __future__ import annotations

import argparse
import resource
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from support import rss_kib

from tests.harness import ApplianceServer, http_json, open_stream, reset


class Drain(threading.Thread):
    """Reads every open stream, as browsers do."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.selector = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def add(self, sock: socket.socket) -> None:
        with self.lock:
            self.selector.register(sock, selectors.EVENT_READ)

    def remove(self, sock: socket.socket) -> None:
        with self.lock:
            self.selector.unregister(sock)

    def run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                ready = self.selector.select(timeout=0.05) if self.selector.get_map() else []
            if not ready:
                time.sleep(0.01)
            for key, _ in ready:
                try:
                    key.fileobj.recv(65536)
                except BlockingIOError:
                    pass


class Publisher(threading.Thread):
    """A monitor report ten times a second: an event for every stream."""

    def __init__(self, server: ApplianceServer) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        headers = {"Authorization": f"Bearer {self.server.token}"}
        while not self.stop.wait(0.1):
            n += 1
            state, colour = ("success", "GREEN") if n % 2 else ("building_after_success", "CYAN")
            report = {"lamp": {"state": state, "colour": colour}, "sources": []}
            try:
                status, answer = http_json(f"{self.server.url}/api/monitor", "PUT", report, headers, 5)
            except OSError as exc:
                status, answer = 0, exc
            if not 200 <= status < 300:
                print(f"  publishing failed: {status} {answer}", file=sys.stderr)


def healthz_ms(server: ApplianceServer) -> float:
    """How long a ``/healthz`` took to answer, in milliseconds."""
    started = time.perf_counter()
    if not server.healthy():
        raise RuntimeError("/healthz failed")
    return (time.perf_counter() - started) * 1000


def latencies(server: ApplianceServer, requests: int) -> list[float]:
    return [healthz_ms(server) for _ in range(requests)]


def rss_mib(pid: int) -> float:
    return rss_kib(pid) / 1024


def percentile(values: list[float], fraction: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", default="0,100,250,500,1000,1500")
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    steps = [int(step) for step in args.steps.split(",")]
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    with tempfile.TemporaryDirectory() as workdir:
        server = ApplianceServer(Path(workdir), extra_config=f"max_streams = {max(steps) + 100}\n")
        drain, publisher = Drain(), Publisher(server)
        streams: list[socket.socket] = []
        try:
            server.start()
            drain.start()
            publisher.start()
            time.sleep(1)
            baseline = rss_mib(server.process.pid)
            print("streams  p50 ms  p99 ms  RSS MiB  KiB/stream")
            held = 0
            for step in steps:
                while len(streams) < step:
                    sock = open_stream(server.port)
                    sock.setblocking(False)
                    streams.append(sock)
                    drain.add(sock)
                time.sleep(1)
                times = latencies(server, args.requests)
                p50, p99 = statistics.median(times), percentile(times, 0.99)
                rss = rss_mib(server.process.pid)
                per_stream = (rss - baseline) * 1024 / step if step else 0.0
                print(f"{step:7d}  {p50:6.1f}  {p99:6.1f}  {rss:7.1f}  {per_stream:10.1f}")
                if p99 < 100:
                    held = step
            print(f"open streams held with /healthz p99 < 100 ms: {held}")

            victims, streams = streams[:100], streams[100:]
            for sock in victims:
                drain.remove(sock)
                reset(sock)
            print(f"/healthz right after 100 streams reset: {healthz_ms(server):.1f} ms")
        finally:
            publisher.stop.set()
            drain.stop.set()
            for sock in streams:
                sock.close()
            server.stop()


if __name__ == "__main__":
    main()
