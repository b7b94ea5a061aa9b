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
import json
import os
import resource
import selectors
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from support import free_port, wait_for

APPLIANCE = str(Path(sys.executable).parent / "appliance")
TOKEN = "bench-streams-token"  # noqa: S105 - a throw-away server on loopback


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def healthz(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as answer:
            return answer.status == 200
    except OSError:
        return False


def open_stream(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"GET /events HTTP/1.1\r\nHost: bench\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("stream refused")
        head += chunk
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
    sock.setblocking(False)
    return sock


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

    def __init__(self, base: str) -> None:
        super().__init__(daemon=True)
        self.base = base
        self.stop = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.stop.wait(0.1):
            n += 1
            state, colour = ("success", "GREEN") if n % 2 else ("building_after_success", "CYAN")
            report = {"lamp": {"state": state, "colour": colour}, "sources": []}
            request = urllib.request.Request(
                f"{self.base}/api/monitor",
                data=json.dumps(report).encode(),
                method="PUT",
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
            )
            try:
                urllib.request.urlopen(request, timeout=5).close()
            except OSError as exc:
                print(f"  publishing failed: {exc}", file=sys.stderr)


def latencies(base: str, requests: int) -> list[float]:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        if not healthz(base):
            raise RuntimeError("/healthz failed")
        times.append((time.perf_counter() - started) * 1000)
    return times


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
        port = free_port()
        config = Path(workdir) / "appliance.toml"
        config.write_text(
            f'data_dir = "{workdir}/data"\n[server]\nport = {port}\nmax_streams = {max(steps) + 100}\n'
            '[auth]\ntoken = "env:BENCH_TOKEN"\n'
        )
        env = {**os.environ, "BENCH_TOKEN": TOKEN}
        server = subprocess.Popen(
            [APPLIANCE, "server", "--config", str(config)], env=env, stderr=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}"
        drain, publisher = Drain(), Publisher(base)
        streams: list[socket.socket] = []
        try:
            wait_for(lambda: healthz(base))
            drain.start()
            publisher.start()
            time.sleep(1)
            baseline = rss_mib(server.pid)
            print("streams  p50 ms  p99 ms  RSS MiB  KiB/stream")
            held = 0
            for step in steps:
                while len(streams) < step:
                    sock = open_stream(port)
                    streams.append(sock)
                    drain.add(sock)
                time.sleep(1)
                times = latencies(base, args.requests)
                p50, p99 = statistics.median(times), percentile(times, 0.99)
                rss = rss_mib(server.pid)
                per_stream = (rss - baseline) * 1024 / step if step else 0.0
                print(f"{step:7d}  {p50:6.1f}  {p99:6.1f}  {rss:7.1f}  {per_stream:10.1f}")
                if p99 < 100:
                    held = step
            print(f"open streams held with /healthz p99 < 100 ms: {held}")

            victims, streams = streams[:100], streams[100:]
            for sock in victims:
                drain.remove(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            started = time.perf_counter()
            healthz(base)
            print(f"/healthz right after 100 streams reset: {(time.perf_counter() - started) * 1000:.1f} ms")
        finally:
            publisher.stop.set()
            drain.stop.set()
            for sock in streams:
                sock.close()
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
