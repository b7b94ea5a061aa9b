#!/usr/bin/env python3
"""The progress tracker's sustained ingest rate, on a real `appliance server`: 4 test machines
(threads, one keep-alive connection each) post a dry run of `--tests` tests, then each test's start
and stop as fast as the server answers. Prints events per second and each request's p50/p99.

Then, on a fresh server, the fan-out: `--streams` clients hold `/events?topic=progress` open (raw
sockets, read by one selector thread that timestamps each event as it arrives) while `--posts`
test starts and stops are posted one at a time; each post's latency is from sending it to its
`progress.test` event reaching each client. Meanwhile `GET /` (the status page) is timed every
`--page-interval` seconds. Prints the p50/p99 over every (post, client), over the slowest client
of each post, and the status page's p50/p99.

    .venv/bin/python bench/progress.py [--clients 4] [--tests 1000] [--streams 100] [--posts 200]
        [--phase both|ingest|fanout]
"""

from __future__ import annotations

import argparse
import http.client
import json
import resource
import selectors
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.harness import ApplianceServer, open_stream


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


class SseReader:
    """One ``/events`` stream's bytes in, whole SSE events out: undoes HTTP/1.1 chunked framing
    (a chunk's size line may come in one recv and its data in the next) when the answer is chunked."""

    def __init__(self) -> None:
        self.raw = b""
        self.text = b""
        self.chunked: bool | None = None  # decided by the first bytes: a size line or ``retry:``
        self.left = 0  # bytes of the current chunk still to come (+2 for its CRLF)

    def feed(self, data: bytes) -> list[bytes]:
        self.raw += data
        if self.chunked is None and self.raw:
            self.chunked = not self.raw.startswith(b"retry")
        if not self.chunked:
            self.text, self.raw = self.text + self.raw, b""
        while self.chunked:
            if self.left:
                take = self.raw[: self.left]
                self.raw = self.raw[len(take) :]
                self.left -= len(take)
                self.text += take
                if self.left:
                    break
                self.text = self.text[:-2]  # the CRLF after the chunk's data
                continue
            line, found, rest = self.raw.partition(b"\r\n")
            if not found:
                break
            self.raw, self.left = rest, int(line.split(b";")[0], 16) + 2
            if self.left == 2:  # the last chunk: the stream ended
                raise ConnectionError("the server ended the stream")
        *events, self.text = self.text.split(b"\n\n")
        return events


class Listeners(threading.Thread):
    """Reads every stream in one selector thread and notes when each ``progress.test`` event of a
    test named with ``marker`` arrives on each stream, by (file name, status)."""

    def __init__(self, marker: str) -> None:
        super().__init__(daemon=True)
        self.marker = marker.encode()
        self.selector = selectors.DefaultSelector()
        self.arrivals: dict[tuple[str, str], list[float]] = {}
        self.changed = threading.Condition()
        self.stop = threading.Event()
        self.errors: list[str] = []

    def add(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ, SseReader())

    def run(self) -> None:
        while not self.stop.is_set():
            for key, _ in self.selector.select(timeout=0.05):
                try:
                    data = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                arrived = time.perf_counter()
                if not data:
                    self.errors.append("a stream closed")
                    self.selector.unregister(key.fileobj)
                    continue
                for event in key.data.feed(data):
                    self._note(event, arrived)

    def _note(self, event: bytes, arrived: float) -> None:
        if self.marker not in event:
            return
        fields = dict(line.partition(b": ")[::2] for line in event.split(b"\n"))
        if fields.get(b"event") != b"progress.test":
            return
        test = json.loads(fields[b"data"])
        with self.changed:
            self.arrivals.setdefault((test["file_name"], test["status"]), []).append(arrived)
            self.changed.notify_all()

    def wait(self, key: tuple[str, str], count: int, timeout: float) -> list[float]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.arrivals.get(key, ())) >= count, timeout)
            return list(self.arrivals.get(key, ()))


class StatusPage(threading.Thread):
    """``GET /`` every ``interval`` seconds, each answer timed."""

    def __init__(self, url: str, interval: float) -> None:
        super().__init__(daemon=True)
        self.url, self.interval = url, interval
        self.times: list[float] = []
        self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            began = time.perf_counter()
            try:
                with urllib.request.urlopen(self.url + "/", timeout=10) as response:
                    response.read()
                    ok = response.status == 200
            except OSError:
                ok = False
            if ok:
                self.times.append(time.perf_counter() - began)
            else:
                self.failures += 1


def ms(values: list[float], quantile: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[quantile - 1] * 1000


def fanout(args: argparse.Namespace) -> None:
    """From a start's or stop's POST to its ``progress.test`` event on each of ``--streams``
    open ``/events?topic=progress`` streams, with the status page asked meanwhile."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    marker = f"fanout{int(time.time())}"
    names = [f"{marker}_{n:04d}.py" for n in range((args.posts + 1) // 2)]
    with tempfile.TemporaryDirectory() as directory:
        server = ApplianceServer(Path(directory), extra_config=f"max_streams = {args.streams + 100}\n")
        server.start()
        listeners, page = Listeners(marker), StatusPage(server.url, args.page_interval)
        streams: list[socket.socket] = []
        try:
            token = server.token
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            files = [{"file_path": "/bench", "file_name": name, "script": ""} for name in names]
            scenario = {"file_path": "/bench", "file_name": "scenario.py", "tests": files}
            master = {"file_path": "/bench", "file_name": "master.py", "scenarios": [scenario]}
            dry_run = {
                "machine_name": "fanout",
                "timestamp": "2018-12-30 13:01:57",
                "master_scenario": master,
            }
            assert post(conn, "/tm_api/dry_run/", dry_run, token) == 201
            for _ in range(args.streams):
                sock = open_stream(server.port, "/events?topic=progress")
                streams.append(sock)
                listeners.add(sock)
            listeners.start()
            page.start()
            time.sleep(1)
            every, slowest, posts, lost = [], [], 0, 0
            for file in files:
                report = {"machine_name": "fanout", **file}
                for path, extra, status in (
                    ("/tm_api/test_start/", {"timestamp_start": "2018-12-30 13:01:58"}, "running"),
                    (
                        "/tm_api/test_stop/",
                        {"status": "passed", "timestamp_stop": "2018-12-30 13:01:59"},
                        "passed",
                    ),
                ):
                    if posts == args.posts:
                        break
                    began = time.perf_counter()
                    assert post(conn, path, {**report, **extra}, token) == 202
                    arrivals = listeners.wait((file["file_name"], status), args.streams, 5)
                    lost += args.streams - len(arrivals)
                    delays = [arrived - began for arrived in arrivals]
                    every += delays
                    slowest.append(max(delays, default=5.0))
                    posts += 1
                    time.sleep(args.pause)
            conn.close()
        finally:
            page.stop.set()
            listeners.stop.set()
            page.join(15)
            listeners.join(5)
            for sock in streams:
                sock.close()
            server.stop()
    print(
        f"{posts} posts to {args.streams} /events?topic=progress streams: POST -> progress.test event "
        f"p50 {ms(every, 50):.1f} ms, p99 {ms(every, 99):.1f} ms, max {max(every) * 1000:.1f} ms "
        f"({len(every)} arrivals, {lost} missing); slowest stream per post p50 {ms(slowest, 50):.1f} ms, "
        f"p99 {ms(slowest, 99):.1f} ms"
    )
    if listeners.errors:
        print(f"  stream errors: {len(listeners.errors)}: {listeners.errors[0]}")
    if len(page.times) >= 2:
        print(
            f"status page GET / meanwhile: {len(page.times)} answered, {page.failures} failed; "
            f"p50 {ms(page.times, 50):.1f} ms, p99 {ms(page.times, 99):.1f} ms, "
            f"max {max(page.times) * 1000:.1f} ms"
        )
    else:
        print(f"status page GET / meanwhile: {len(page.times)} answered, {page.failures} failed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--tests", type=int, default=1000, help="tests per machine's run")
    parser.add_argument("--phase", choices=("both", "ingest", "fanout"), default="both")
    parser.add_argument("--streams", type=int, default=100, help="open /events streams (fan-out)")
    parser.add_argument("--posts", type=int, default=200, help="starts and stops posted (fan-out)")
    parser.add_argument("--pause", type=float, default=0.02, help="seconds between posts (fan-out)")
    parser.add_argument("--page-interval", type=float, default=0.1, help="seconds between GET / (fan-out)")
    args = parser.parse_args()
    if args.phase != "fanout":
        ingest(args)
    if args.phase != "ingest":
        fanout(args)


def ingest(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as directory:
        server = ApplianceServer(Path(directory))
        server.start()
        try:
            token = server.token
            latencies: list[list[float]] = [[] for _ in range(args.clients)]
            start = threading.Barrier(args.clients + 1, timeout=60)  # a client that fails breaks it
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
