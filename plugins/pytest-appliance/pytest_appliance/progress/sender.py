"""The reports' way to the tracker: a bounded queue and one background thread posting with urllib.

Nothing here may fail or slow the session: ``send`` never blocks (a full queue drops the report;
``send_all`` queues reports that belong together, such as a start and its stop, as one entry),
each request has a short timeout, and ``close`` waits a bounded time. The first thing that goes
wrong is kept as ``problem`` for the one warning the plugin prints; a tracker that does not answer,
refuses the dry run or the token ends the reporting (``gave_up``), a refused start or stop drops
only that report.
"""

from __future__ import annotations

import json
import queue
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field

TIMEOUT = 2.0  # seconds, each request's connect and read
CAPACITY = 1000  # entries (a report, or reports sent together) waiting at most; beyond, dropped

DRY_RUN = "/tm_api/dry_run/"
START = "/tm_api/test_start/"
STOP = "/tm_api/test_stop/"


@dataclass
class Report:
    """One POST. ``index`` is the test's place in the dry run, whose answer gives its ``run`` and
    ``test`` ids; the dry run itself has none."""

    path: str
    body: dict
    index: int | None = None


@dataclass
class _Ids:
    run: int | None = None
    tests: list[int] = field(default_factory=list)


_END = object()


class Sender:
    def __init__(self, url: str, token: str | None, capacity: int = CAPACITY, timeout: float = TIMEOUT):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.capacity = capacity
        self.problem: str | None = None
        self.gave_up = threading.Event()
        self.queued = 0
        self.sent = 0
        self._ids = _Ids()
        self._queue: queue.Queue = queue.Queue(capacity)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="appliance-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def unsent(self) -> int:
        with self._lock:
            return self.queued - self.sent

    def send(self, report: Report) -> None:
        """Queue ``report``; never blocks."""
        self.send_all([report])

    def send_all(self, reports: list[Report]) -> None:
        """Queue ``reports`` as one entry, sent in order (or dropped together); never blocks."""
        if not reports:
            return
        with self._lock:
            self.queued += len(reports)
        if self.gave_up.is_set():
            return
        try:
            self._queue.put_nowait(reports)
        except queue.Full:
            self._note(f"more than {self.capacity} reports waited for the tracker at {self.url}")

    def close(self, wait: float) -> None:
        """Send what is queued, waiting at most ``wait`` seconds; then give up on the rest."""
        self._closing.set()
        try:
            self._queue.put_nowait(_END)
        except queue.Full:
            pass  # the thread sees _closing once the queue is empty
        self._thread.join(wait)
        if self._thread.is_alive():
            self._give_up(f"the tracker at {self.url} took more than {wait:g} s to take the last reports")

    def _note(self, problem: str) -> None:
        with self._lock:
            if self.problem is None:
                self.problem = problem

    def _give_up(self, problem: str) -> None:
        self._note(problem)
        self.gave_up.set()

    def _next(self):
        while True:
            try:
                return self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._closing.is_set():
                    return _END

    def _run(self) -> None:
        while (reports := self._next()) is not _END:
            for report in reports:
                if self.gave_up.is_set():
                    break  # drained, so that close() is not kept waiting
                try:
                    self._deliver(report)
                except Exception as error:  # a reporter must never break the session
                    self._give_up(f"reporting to {self.url} failed: {error!r}")

    def _deliver(self, report: Report) -> None:
        body = dict(report.body)
        if report.index is not None:
            if self._ids.run is None or report.index >= len(self._ids.tests):
                self._note(f"the tracker at {self.url} did not list every test in its dry-run answer")
                return
            body["run"], body["test"] = self._ids.run, self._ids.tests[report.index]
        try:
            answer = self._post(report.path, body)
        except urllib.error.HTTPError as error:
            message = _error_message(error)
            if report.path == DRY_RUN or error.code in (401, 403):
                self._give_up(f"the tracker at {self.url} refused {report.path}: {error.code} {message}")
            else:
                self._note(
                    f"the tracker at {self.url} refused a report to {report.path}: {error.code} {message}"
                )
            return
        except OSError as error:  # refused, unreachable, timed out
            reason = getattr(error, "reason", error)
            self._give_up(f"the tracker at {self.url} did not answer ({reason})")
            return
        if report.path == DRY_RUN:
            self._ids = _Ids(answer["run"], [test["test"] for test in answer["tests"]])
        with self._lock:
            self.sent += 1

    def _post(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(  # noqa: S310 (the URL is http(s), checked at configure)
            self.url + path,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "pytest-appliance"},
        )
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (http(s) only, checked)
            return json.loads(response.read() or b"{}")


def _error_message(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(error.read())["error"])[:200]
    except Exception:
        return str(error.reason)
