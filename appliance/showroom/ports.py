"""Each demo's port, and the locks that keep two deployments from taking the same one."""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.showroom.errors import DeploymentError

# Where the demos listen (their HOST): a port another program listens on, on any IPv4 address or
# on both stacks, cannot be bound here either.
ANY_ADDRESS = "0.0.0.0"  # noqa: S104 - the LAN reaches the demos


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (created if missing). It excludes other processes (the
    server, a command line) and other threads of this one alike: flock() locks belong to an open
    file, and each holder opens the file anew."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # and with it the lock


def bindable(port: int) -> bool:
    """Whether a demo could listen on ``port`` now. SO_REUSEADDR as servers set it, so that a
    port whose last connections linger in TIME_WAIT counts as free."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((ANY_ADDRESS, port))
        except OSError:
            return False
    return True


def allocate(held: set[int], base: int, count: int) -> int:
    """The lowest port from ``base`` that no demo holds and no other program listens on."""
    for port in range(base, min(base + count, 65536)):
        if port not in held and bindable(port):
            return port
    raise DeploymentError(f"no free port left for a demo in {base}-{base + count - 1}")
