"""A deadline for a whole HTTP read, connect to last byte, for the polled sources.

requests' timeout bounds each socket operation, not the answer, so a server that trickles its
answer a byte at a time could hold the monitor for as long as it kept sending. A ``Deadline``
entered around a read watches the sockets of the requests made meanwhile (through
``WatchedAdapter``, also through a proxy) and shuts them down when the time is up, which ends a
blocked read at once.
"""

from __future__ import annotations

import functools
import socket
import threading
import time
from contextvars import ContextVar, Token
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connectionpool import HTTPConnectionPool

_current_deadline: ContextVar[Deadline | None] = ContextVar("deadline", default=None)


class Deadline:
    """The time by which a read must be over, connect to last byte, for the requests made in this
    thread while it is entered. Deadlines nest: an inner one ends no later than the one around it.

    Each request's socket is handed to the deadline when the request is sent (``watch``), and a
    timer shuts that socket down when the time is up, which ends a read blocked on it at once. A
    connection attempt has only the time left (``remaining``), a retried one too.
    """

    _token: Token[Deadline | None]  # the current deadline before this one was entered

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds
        outer = _current_deadline.get()
        if outer is not None and outer.end < self.end:
            self.seconds, self.end = outer.seconds, outer.end
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.end

    def exceeded(self, place: str, answered: bool) -> str:
        """What a read that ran out of time says: whether the server had begun to answer."""
        if answered:
            return f"answer from {place} took longer than {self.seconds:g} s"
        return f"no answer from {place} within {self.seconds:g} s"

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline, at once if it has passed."""
        with self._lock:
            self._sock = sock
            if self._timer is None:
                self._timer = threading.Timer(self.remaining(), self._shut_down)
                self._timer.daemon = True
                self._timer.start()

    def _shut_down(self) -> None:
        with self._lock:  # not a socket the request has let go of (see __exit__)
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:  # closed already
                    pass

    def __enter__(self) -> Deadline:
        self._token = _current_deadline.set(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        _current_deadline.reset(self._token)
        with self._lock:
            self._sock = None
            if self._timer is not None:
                self._timer.cancel()


class _WatchedConnection:
    """Mixed into urllib3's connection classes: what the current Deadline needs of a connection."""

    sock: socket.socket
    timeout: float | None

    def connect(self) -> None:
        deadline = _current_deadline.get()
        if deadline is not None:  # a retried connect gets only the time left, not a new timeout
            self.timeout = deadline.remaining()
        super().connect()  # type: ignore[misc]

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        deadline = _current_deadline.get()
        if deadline is not None:
            deadline.watch(self.sock)
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


@functools.cache
def _watched(pool_class: type[HTTPConnectionPool]) -> type[HTTPConnectionPool]:
    """``pool_class``, with connections that the current Deadline watches."""
    connection_class = pool_class.ConnectionCls
    if issubclass(connection_class, _WatchedConnection):
        return pool_class
    name = connection_class.__name__
    watched_connection = type(f"Watched{name}", (_WatchedConnection, connection_class), {})
    return type(f"Watched{pool_class.__name__}", (pool_class,), {"ConnectionCls": watched_connection})


def _watch_connections(manager: PoolManager) -> None:
    manager.pool_classes_by_scheme = {
        scheme: _watched(pool_class) for scheme, pool_class in manager.pool_classes_by_scheme.items()
    }


class WatchedAdapter(HTTPAdapter):
    """requests' adapter, with connections that the current Deadline watches, through a proxy too."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watch_connections(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        _watch_connections(manager)
        return manager
