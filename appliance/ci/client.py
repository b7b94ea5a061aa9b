"""How runners, the observer and the ``appliance ci`` commands talk to the server: JSON over
HTTP with the caller's token, on the standard library only (these programs stay small), and a back-off
for the times the server is away. A server that is down or answers 5xx is ``ServerUnavailable``,
something to wait out; any other answer is returned to the caller to judge."""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import IO, Any


class ServerUnavailable(Exception):
    """The server cannot be reached, timed out, or failed (5xx): try again later."""


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def error(self) -> str:
        if isinstance(self.body, dict) and "error" in self.body:
            return str(self.body["error"])
        return f"HTTP {self.status}"


class Client:
    def __init__(self, base_url: str, token: str | None, timeout: float = 15.0):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"the server URL must start with http:// or https://, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def _request(
        self, method: str, path: str, body: Any = None, data: bytes | None = None, content_type: str = ""
    ) -> urllib.request.Request:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
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
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:  # noqa: S310
                return Answer(response.status, _parse(response.read()))
        except urllib.error.HTTPError as exc:
            with exc:
                answer = Answer(exc.code, _parse(exc.read()))
            if exc.code >= 500:
                raise ServerUnavailable(f"{method} {path}: {answer.error}") from None
            return answer
        except (OSError, ValueError) as exc:  # refused, reset, timed out, half a response
            raise ServerUnavailable(f"cannot reach {self.base_url}: {exc}") from None

    def stream(self, path: str, timeout: float) -> IO[bytes]:
        """An open response to read line by line (Server-Sent Events); the caller closes it."""
        try:
            return urllib.request.urlopen(self._request("GET", path), timeout=timeout)  # noqa: S310
        except urllib.error.HTTPError as exc:
            exc.close()
            raise ServerUnavailable(f"GET {path}: HTTP {exc.code}") from None
        except (OSError, ValueError) as exc:
            raise ServerUnavailable(f"cannot reach {self.base_url}: {exc}") from None


def _parse(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


class Backoff:
    """Waits that double from ``initial`` to ``maximum``, with jitter so that many clients of a
    restarted server do not all come back in the same instant."""

    def __init__(self, initial: float = 0.2, maximum: float = 30.0):
        self.initial = initial
        self.maximum = maximum
        self._next = initial

    def next_delay(self) -> float:
        delay = self._next * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not cryptography
        self._next = min(self.maximum, self._next * 2)
        return delay

    def wait(self, stop: threading.Event) -> bool:
        """Sleep the next delay; True if ``stop`` was set meanwhile."""
        return stop.wait(self.next_delay())

    def reset(self) -> None:
        self._next = self.initial
