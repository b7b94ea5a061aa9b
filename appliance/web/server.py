"""How the server meets the network: one event loop (uvicorn) holds every connection, Flask runs
in a bounded pool of threads, and the live event stream is served by the loop itself.

Why: under waitress every connection that waits (a live page, a runner's long poll, a client
trickling its body) held one of 48 threads, so 48 open pages stopped the whole API. Here an idle
connection costs a few kilobytes of the loop and no thread:

- ``/events`` never reaches Flask (``appliance/web/streams.py``);
- a request's body is read on the loop, bounded in bytes and in time, before a thread is taken;
- a response is handed from the thread to the loop bounded in bytes, and a client that stops
  reading is cut off, so a thread never waits on a client for long;
- the number of requests waiting for a thread is bounded; beyond it, 503.

Each refusal is answered in the one error shape. A view that waits for something (a runner's long
poll) learns that its client went away through ``disconnection()``.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import resource
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import uvicorn
from flask import Flask, request
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from appliance.events import EventBus
from appliance.web.auth import READ_REFUSAL
from appliance.web.errors import error_body
from appliance.web.inputs import MAX_BODY_BYTES
from appliance.web.reports import ReportPath, report_parser
from appliance.web.streams import EventStreams, send_json

log = logging.getLogger(__name__)

HEAD_BYTES = 16 * 1024  # a request's line and headers
BODY_SECONDS = 30.0  # to receive a whole request body
WRITE_SECONDS = 30.0  # a client that reads nothing of its answer for this long is cut off
BODY_BUDGET = 32 * 1024 * 1024  # request bodies held in memory at once, all clients together
RESPONSE_BUFFER = 256 * 1024  # bytes of one answer between its thread and the loop
HAND_OVER = 64 * 1024  # an answer crosses from its thread to the loop in pieces this large
DISCONNECTION = "appliance.disconnection"


class Disconnection:
    """Set once the client has closed its connection; callbacks run then (on the loop's thread,
    so they must only wake somebody up)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._callbacks: list[Callable[[], None]] = []

    def is_set(self) -> bool:
        with self._lock:
            return self._set

    def on_set(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if not self._set:
                self._callbacks.append(callback)
                return
        callback()

    def set(self) -> None:
        with self._lock:
            self._set, callbacks, self._callbacks = True, self._callbacks, []
        for callback in callbacks:
            callback()


def disconnection() -> Disconnection | None:
    """The current request's; None where nothing watches the connection (Flask's test client)."""
    return request.environ.get(DISCONNECTION)


class ClientGone(Exception):
    """The loop gave up on the client: the thread stops producing its answer."""


class _Exchange:
    """One answer, from the thread that runs Flask to the loop that sends it."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self.messages: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._room = threading.Condition()
        self._buffered = 0
        self._abandoned = False
        self._start: dict | None = None  # until it is handed over with the first piece
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.answered = False  # set by the thread as it hands over its last message

    # --- the thread's side ----------------------------------------------------------------------

    def run(self, app: Flask, environ: dict) -> None:
        try:
            iterable = app(environ, self._start_response)
            try:
                for chunk in iterable:
                    self._write(chunk)
            finally:
                getattr(iterable, "close", lambda: None)()
            self.answered = True
            self._post("last", (self._start, b"".join(self._pending)))
        except ClientGone:
            pass
        except Exception:  # an answer already under way cannot become an error page any more
            log.exception(
                "failed while sending the answer to %s %s", environ["REQUEST_METHOD"], environ["PATH_INFO"]
            )
            self.answered = True
            self._post("fail", None)

    def _start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None):
        self._start = {
            "type": "http.response.start",
            "status": int(status.split(" ", 1)[0]),
            "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        }
        return self._write

    def _write(self, chunk: bytes) -> None:
        """Gathers the answer and hands it over in pieces of ``HAND_OVER`` bytes, the last piece
        with its end: most answers cross to the loop once, start, body and end together (each
        crossing wakes the loop, and that cost as much as the rest of a small request)."""
        self._pending.append(chunk)
        self._pending_bytes += len(chunk)
        if self._pending_bytes < HAND_OVER:
            return
        piece = b"".join(self._pending)
        self._pending, self._pending_bytes = [], 0
        with self._room:
            while self._buffered >= RESPONSE_BUFFER and not self._abandoned:
                self._room.wait()
            if self._abandoned:
                raise ClientGone
            self._buffered += len(piece)
        self._post("body", (self._start, piece))
        self._start = None

    def _post(self, kind: str, value: Any) -> None:
        self.loop.call_soon_threadsafe(self.messages.put_nowait, (kind, value))

    # --- the loop's side ------------------------------------------------------------------------

    async def relay(self, send, gone: Disconnection) -> None:
        started = False
        try:
            while not gone.is_set():
                kind, value = await self.messages.get()
                if kind == "fail":
                    if not started:
                        await send_json(send, 500, "the server failed; the error is in its log")
                    return
                start, body = value
                async with asyncio.timeout(WRITE_SECONDS):
                    if start is not None:
                        started = True
                        await send(start)
                    await send({"type": "http.response.body", "body": body, "more_body": kind == "body"})
                if kind == "last":
                    return
                with self._room:
                    self._buffered -= len(body)
                    self._room.notify()
        except TimeoutError:
            log.info("a client read nothing of its answer for %.0f s: cut off", WRITE_SECONDS)
        finally:
            self.abandon()

    def abandon(self) -> None:
        with self._room:
            self._abandoned = True
            self._room.notify_all()


class Gateway:
    """The ASGI application that uvicorn serves: ``/events`` and tests' starts and stops
    (``reports.py``) on the loop, the rest through Flask."""

    def __init__(
        self,
        app: Flask,
        bus: EventBus,
        threads: int,
        max_streams: int,
        reports: ReportPath | None = None,
        may_read: Callable[[dict[bytes, bytes]], bool] = lambda headers: True,
    ):
        self.app = app
        self.reports = reports
        self.may_read = may_read  # whether a request's headers may open /events ([auth] public_status)
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="request")
        self.streams = EventStreams(bus, max_streams)
        self.max_waiting = threads * 4
        self.waiting = 0  # requests holding or waiting for a thread; the loop alone changes these
        self.body_bytes = 0

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/events":
            if self.may_read(dict(scope["headers"])):
                await self.streams(scope, receive, send)
            else:
                await send_json(
                    send,
                    401,
                    READ_REFUSAL,
                    [(b"www-authenticate", b'Bearer realm="appliance"')],
                )
        else:
            await self._request(scope, receive, send)

    async def _request(self, scope: dict, receive, send) -> None:
        close = [(b"connection", b"close")]  # the unread body of a refused request is not parsed
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            await send_json(send, 413, f"a request body may have at most {MAX_BODY_BYTES} bytes", close)
            return
        reserve = int(declared) if declared is not None else MAX_BODY_BYTES
        if self.waiting >= self.max_waiting or self.body_bytes + reserve > BODY_BUDGET:
            await send_json(
                send, 503, "the server is busy; try again shortly", [*close, (b"retry-after", b"2")]
            )
            return
        self.waiting += 1
        self.body_bytes += reserve
        try:
            try:
                async with asyncio.timeout(BODY_SECONDS):
                    body = await _read_body(receive)
            finally:
                self.body_bytes -= reserve
            if body is None:
                return  # the client left before its request was complete
            if len(body) > MAX_BODY_BYTES:
                await send_json(send, 413, f"a request body may have at most {MAX_BODY_BYTES} bytes", close)
                return
            parse = report_parser(scope) if self.reports else None
            if parse:
                await self.reports(scope, body, send, parse)
            else:
                await self._run(scope, body, receive, send)
        except TimeoutError:
            await send_json(send, 408, f"the request body did not arrive within {BODY_SECONDS:.0f} s", close)
        finally:
            self.waiting -= 1

    async def _run(self, scope: dict, body: bytes, receive, send) -> None:
        loop = asyncio.get_running_loop()
        gone = Disconnection()
        exchange = _Exchange(loop)
        gone.on_set(exchange.abandon)
        watcher = asyncio.create_task(_watch(receive, gone))
        try:
            job = self.pool.submit(exchange.run, self.app, environ_of(scope, body, gone))
            await exchange.relay(send, gone)
            if not exchange.answered:  # the client left early: the thread is still to be waited for
                await asyncio.wrap_future(job)
        finally:
            watcher.cancel()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self.reports:
            self.reports.close()


class Uvicorn(uvicorn.Server):
    """uvicorn, ending the open event streams first when it stops (on a signal too): they never
    end by themselves, and a stop would otherwise wait for them."""

    def __init__(self, gateway: Gateway, config: uvicorn.Config):
        super().__init__(config)
        self.gateway = gateway

    async def shutdown(self, sockets: Any = None) -> None:
        self.gateway.streams.close_all()
        await super().shutdown(sockets)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's protocol on httptools (a C parser: a request costs a fraction of h11's), with the
    bound on a request's head that httptools lacks: beyond ``HEAD_BYTES`` of request line and
    headers, 431 in the one error shape, and the connection is closed."""

    head_bytes = 0  # received since the last head was complete

    def data_received(self, data: bytes) -> None:
        self.head_bytes += len(data)  # a read is at most 256 KiB: the parser holds no more
        super().data_received(data)
        if self.head_bytes > HEAD_BYTES and not self.transport.is_closing():
            self._refuse_head()

    def on_headers_complete(self) -> None:
        self.head_bytes = 0
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self.head_bytes = 0
        super().on_body(body)

    def _refuse_head(self) -> None:
        body = json.dumps(
            error_body(431, f"a request's line and headers may have at most {HEAD_BYTES} bytes")
        )
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
            b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body.encode())
        )
        self.transport.close()


async def _read_body(receive) -> bytes | None:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES or not message.get("more_body"):
            return bytes(body)


async def _watch(receive, gone: Disconnection) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    gone.set()


def environ_of(scope: dict, body: bytes, gone: Disconnection) -> dict:
    """The WSGI environ (PEP 3333) of an ASGI request whose body has been read."""
    server_name, server_port = scope.get("server") or ("localhost", 80)
    client_addr, client_port = scope.get("client") or ("", 0)
    environ = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": scope["path"].encode("utf-8").decode("latin-1"),
        "QUERY_STRING": scope["query_string"].decode("latin-1"),
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": f"HTTP/{scope['http_version']}",
        "REMOTE_ADDR": client_addr,
        "REMOTE_PORT": str(client_port),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        DISCONNECTION: gone,
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        if name == "CONTENT_LENGTH":
            continue  # the body's real length is set above, also for a chunked request
        key = name if name == "CONTENT_TYPE" else f"HTTP_{name}"
        value = raw_value.decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def raise_open_files_limit() -> None:
    """Each open stream is a file descriptor: take the hard limit, not the default soft 1024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
