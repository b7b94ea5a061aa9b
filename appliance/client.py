"""How the appliance's programs talk to its own server: the runner, the observer, the
``appliance ci`` commands, and the monitor's reports and own-CI feed. JSON over HTTP with the
caller's token (``Client.call``) and the server's Server-Sent Events (``Client.stream``), on the
standard library only: a build box installs the runner without requests (docs/architecture.md).

A server that cannot be reached, does not answer in time or fails (5xx) is ``ServerUnavailable``,
something to wait out (``server_backoff``); any other answer is returned to the caller to judge.
A message names the URL without its query or credentials (``where``) and the innermost reason
(``reason_of``, "Connection refused"), never the token; the monitor's sources say theirs so too.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from appliance.backoff import Backoff

MAX_LINE_BYTES = 1024 * 1024  # of an event stream: beyond it the stream counts as lost
# Of one answer: the API's largest (a page of builds, a log chunk) is a few MiB at most; a server
# that sends more is not one to trust with this program's memory.
MAX_ANSWER_BYTES = 16 * 1024 * 1024


class ServerUnavailable(Exception):
    """The server cannot be reached, timed out, or failed (5xx): try again later."""


def server_backoff(maximum: float = 30.0) -> Backoff:
    """How a program waits for the server: 0.2 s doubling to ``maximum``, with jitter, so that the
    runners and the observer of a restarted server do not all come back in the same instant."""
    return Backoff(0.2, maximum, jitter=True)


def where(url: str) -> str:
    """The URL without credentials, query or fragment: what a message may show."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def reason_of(exc: BaseException) -> str:
    """The innermost error of a connection error, e.g. "Connection refused": urllib and requests
    wrap the operating system's error, requests through urllib3's."""
    innermost = exc
    for _ in range(10):  # a few levels deep; never loop on a cycle
        inner = innermost.__cause__ or innermost.__context__ or getattr(innermost, "reason", None)
        if not isinstance(inner, BaseException):
            break
        innermost = inner
    if isinstance(innermost, OSError) and innermost.strerror:
        return innermost.strerror
    return str(innermost) or type(innermost).__name__


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def error(self) -> str:
        if isinstance(self.body, dict) and "error" in self.body:
            return str(self.body["error"])
        return f"HTTP {self.status}"

    def summary(self, url: str) -> str:
        """What a log says of this answer from ``url``: its status and the server's reason."""
        said = str(self.body.get("error", "")) if isinstance(self.body, dict) else ""
        return f"{url} answered HTTP {self.status} {said}".rstrip()


class Client:
    def __init__(self, base_url: str, token: str | None, timeout: float = 15.0):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the server URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _authorization(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _request(
        self, method: str, path: str, body: Any = None, data: bytes | None = None, content_type: str = ""
    ) -> urllib.request.Request:
        headers = {"Accept": "application/json", **self._authorization()}
        if body is not None:
            data = json.dumps(body).encode()
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        url = self.base_url + path  # http(s) only, checked in __init__
        return urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        data: bytes | None = None,
        timeout: float | None = None,
    ) -> Answer:
        content_type = "application/octet-stream" if data is not None else ""
        request = self._request(method, path, body, data, content_type)
        timeout = timeout or self.timeout
        url = where(self.base_url + path)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return Answer(response.status, _parse(_read_bounded(response, url)))
        except urllib.error.HTTPError as exc:
            with exc:
                answer = Answer(exc.code, _parse(_read_bounded(exc, url)))
            if exc.code >= 500:
                raise ServerUnavailable(answer.summary(url)) from None
            return answer
        except (OSError, ValueError, http.client.HTTPException) as exc:  # refused, reset, timed out, cut
            if isinstance(exc, TimeoutError) or isinstance(getattr(exc, "reason", None), TimeoutError):
                raise ServerUnavailable(f"no answer from {url} within {timeout:g} s") from None
            raise ServerUnavailable(f"cannot reach {url}: {reason_of(exc)}") from None

    def stream(self, path: str, timeout: float, *, connect_timeout: float | None = None) -> EventStream:
        """``path``'s Server-Sent Events, silent at most ``timeout`` seconds (the server sends a
        keep-alive every 15 s); connecting may take ``connect_timeout``, by default as long."""
        headers = {"Accept": "text/event-stream", **self._authorization()}
        return EventStream(self.base_url, path, headers, timeout, connect_timeout or timeout)


def _read_bounded(response: Any, url: str) -> bytes:
    raw = response.read(MAX_ANSWER_BYTES + 1)
    if len(raw) > MAX_ANSWER_BYTES:
        raise ServerUnavailable(f"{url} answered more than {MAX_ANSWER_BYTES} bytes")
    return raw


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


class EventStream:
    """One connection to a text/event-stream, for ``with``: entering connects (ServerUnavailable
    when it cannot, or when the server answers other than 200), iterating yields each message's
    ``(event, data)`` until the server ends the stream, and raises ServerUnavailable when the stream
    is lost, silent for ``timeout`` seconds or sends a line over MAX_LINE_BYTES. Comments (the
    keep-alives) and other fields are skipped, as a browser reads them. Reconnecting is the
    caller's: only it knows what to read afresh.

    On http.client rather than urllib, for its socket: the read timeout is apart from the connect
    timeout, and ``close``, from any thread, shuts it down, which ends a read blocked on it at once.
    """

    def __init__(
        self, base_url: str, path: str, headers: dict[str, str], timeout: float, connect_timeout: float
    ):
        self.url = where(base_url + path)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._server = urlsplit(base_url)
        self._target = self._server.path + path
        self._headers = headers
        self._lock = threading.Lock()
        self._closed = False
        self._sock: socket.socket | None = None  # kept apart: http.client lets go of it
        self._connection: http.client.HTTPConnection | None = None
        self._response: http.client.HTTPResponse | None = None

    def __enter__(self) -> EventStream:
        try:
            self._connect()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._sock = None
        if self._connection is not None:
            self._connection.close()

    def close(self) -> None:
        """End the stream from any thread: a read blocked on it ends at once, and a stream not
        connected yet never connects."""
        with self._lock:
            self._closed = True
            sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:  # closed already
                pass

    def __iter__(self) -> Iterator[tuple[str, str]]:
        if self._response is None:
            raise RuntimeError("iterate an EventStream inside its `with`")
        try:
            yield from _messages(self._response.readline)
        except TimeoutError:
            raise ServerUnavailable(f"no data from {self.url} for {self.timeout:g} s") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:  # UnicodeDecodeError too
            raise ServerUnavailable(f"lost {self.url}: {reason_of(exc)}") from None

    def _connect(self) -> None:
        server = self._server
        kind = http.client.HTTPSConnection if server.scheme == "https" else http.client.HTTPConnection
        connection = kind(server.hostname or "127.0.0.1", server.port, timeout=self.connect_timeout)
        self._connection = connection
        try:
            connection.connect()
            with self._lock:
                self._sock = None if self._closed else connection.sock
            if self._sock is None:
                raise ServerUnavailable(f"{self.url}: closed")
            self._sock.settimeout(self.timeout)
            connection.request("GET", self._target, headers=self._headers)
            self._response = connection.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            raise ServerUnavailable(f"cannot connect to {self.url}: {reason_of(exc)}") from None
        if self._response.status != 200:
            status, reason = self._response.status, self._response.reason
            raise ServerUnavailable(f"HTTP {status} {reason} from {self.url}")


def _messages(readline: Callable[[int], bytes]) -> Iterator[tuple[str, str]]:
    """The ``(event, data)`` of each message of a text/event-stream: fields up to a blank line."""
    event, data = "message", []
    while True:
        line = readline(MAX_LINE_BYTES)
        if not line.endswith(b"\n"):
            if len(line) >= MAX_LINE_BYTES:
                raise ValueError(f"a line longer than {MAX_LINE_BYTES} bytes")
            return  # the stream ended
        text = line.decode("utf-8").rstrip("\r\n")
        if not text:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
            continue
        field, _, value = text.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
