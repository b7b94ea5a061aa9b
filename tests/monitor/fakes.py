"""A small real HTTP server on 127.0.0.1 standing in for Octopus, GitHub, GitLab, Jenkins or a
CCTray feed: each test scripts the documented answers path by path and changes them as it goes.
No pytest here: ``bench/lamp_latency.py`` runs its fake Jenkins job on it too.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    etag: str | None = None
    hang: bool = False
    delay: float = 0.0  # seconds before answering
    # The whole answer, status line and headers too, written piece by piece as it comes.
    raw: Callable[[], Iterable[bytes]] | None = None
    when: dict[str, str] = field(default_factory=dict)  # query items the request must have


NOT_FOUND = Answer(404, b'{"message": "404 Not Found"}')


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    at: float  # time.monotonic() when its answer was chosen
    answer: Answer  # the answer it was given


class FakeService:
    def __init__(self) -> None:
        self.routes: dict[str, list[Answer]] = {}
        self.seen: list[Seen] = []
        self.release = threading.Event()  # frees requests told to hang
        self._lock = threading.Lock()
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def json(self, path: str, body: Any, status: int = 200, **options: Any) -> None:
        """Answer GET ``path`` (with the query items of ``when``, if given) with ``body`` as JSON."""
        self.answer(path, Answer(status, json.dumps(body).encode(), **options))

    def answer(self, path: str, answer: Answer) -> None:
        with self._lock:
            routes = [a for a in self.routes.get(path, []) if a.when != answer.when]
            self.routes[path] = [*routes, answer]

    def fail(self, path: str, status: int, text: str = "error") -> None:
        self.answer(path, Answer(status, text.encode(), "text/plain"))

    def hang(self, path: str) -> None:
        self.answer(path, Answer(hang=True))

    def clear(self) -> None:
        with self._lock:
            self.routes.clear()

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.path == path]

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        with self._lock:
            candidates = self.routes.get(parts.path, [])
            # The answer set last among those whose query items all match.
            matching = [a for a in candidates if all(query.get(k) == v for k, v in a.when.items())]
            answer = matching[-1] if matching else NOT_FOUND
            self.seen.append(Seen(parts.path, query, dict(handler.headers.items()), time.monotonic(), answer))
        if answer.hang:
            self.release.wait(30)
            return
        if answer.delay:
            self.release.wait(answer.delay)
        if answer.raw is not None:
            try:
                for piece in answer.raw():
                    handler.wfile.write(piece)
            except OSError:  # the client stopped reading
                pass
            return
        if answer.etag and handler.headers.get("If-None-Match") == answer.etag:
            handler.send_response(304)
            handler.send_header("ETag", answer.etag)
            handler.end_headers()
            return
        handler.send_response(answer.status)
        handler.send_header("Content-Type", answer.content_type)
        handler.send_header("Content-Length", str(len(answer.body)))
        if answer.etag:
            handler.send_header("ETag", answer.etag)
        handler.end_headers()
        handler.wfile.write(answer.body)

    def start(self) -> FakeService:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
