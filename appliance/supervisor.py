"""A client for supervisord's XML-RPC interface over its unix socket, with a timeout.

supervisord's own transport has no timeout; a status page must not hang on a stuck supervisord,
so this one sets one on the socket.
"""

from __future__ import annotations

import http.client
import socket
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SupervisorUnavailable(Exception):
    """supervisord does not answer on its socket."""


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, socket_path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._socket_path = socket_path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, socket_path: str, timeout: float):
        super().__init__()
        self._socket_path = socket_path
        self._timeout = timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        # Kept where the base class keeps it, so that its close() closes this connection.
        if self._connection[1] is None:
            self._connection = (host, _UnixHTTPConnection(self._socket_path, self._timeout))
        return self._connection[1]


@dataclass(frozen=True)
class ProcessInfo:
    group: str
    name: str
    state: str
    description: str
    pid: int

    @property
    def full_name(self) -> str:
        return self.name if self.group == self.name else f"{self.group}:{self.name}"


class Supervisor:
    """Safe to share between threads: each call has its own proxy and connection (one
    connection shared by the request threads and the stack watcher gave false 'unreachable'
    answers), and nothing is held open between calls."""

    def __init__(self, socket_path: Path, timeout: float = 5.0):
        self.socket_path = socket_path
        self.timeout = timeout

    def call(self, method: str, *args: Any) -> Any:
        """Call ``supervisor.<method>``; a supervisord that does not answer raises
        SupervisorUnavailable, a Fault it answers with is raised as it is."""
        transport = _UnixTransport(str(self.socket_path), self.timeout)
        proxy = xmlrpc.client.ServerProxy("http://localhost", transport=transport, allow_none=True)
        try:
            return getattr(proxy.supervisor, method)(*args)
        except (OSError, http.client.HTTPException) as exc:
            raise SupervisorUnavailable(f"supervisord does not answer on {self.socket_path}: {exc}") from None
        finally:
            proxy("close")()

    def processes(self) -> list[ProcessInfo]:
        infos = self.call("getAllProcessInfo")
        return [ProcessInfo(i["group"], i["name"], i["statename"], i["description"], i["pid"]) for i in infos]
