"""Logging in with the password of ``[auth] password_hash``: hashing and checking it, the
fingerprint that ties a session to the password it was opened with, and the throttle that slows
down whoever guesses. No Flask here: ``appliance/web/login.py`` is the HTTP side,
``appliance passwd`` (``appliance/passwd.py``) the one that sets the password.

werkzeug is imported inside the functions: it comes with the ``server`` extra, which a build box
lacks.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from appliance.config import Config, ConfigError, load_file

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be the appliance's, or None."""
    if not password.strip():
        return "the password is empty"
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"the password must have at least {MIN_PASSWORD_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(password)  # scrypt, salted: what `[auth] password_hash` takes


def password_matches(password_hash: str, password: str) -> bool:
    """Whether ``password`` is the one ``password_hash`` was made from (constant-time compare of
    the digests, werkzeug's); never, while no password is set."""
    from werkzeug.security import check_password_hash

    return bool(password_hash) and check_password_hash(password_hash, password)


def password_fingerprint(session_key: str, password_hash: str) -> str:
    """What a session keeps of the password it was opened with: when the hash changes, the
    sessions opened with the old one no longer match. Keyed, so a cookie tells nothing of the hash."""
    return hmac.new(session_key.encode(), password_hash.encode(), hashlib.sha256).hexdigest()[:32]


class PasswordHash:
    """The ``[auth] password_hash`` in effect: the configuration file's, read again when the file
    has changed, so that ``appliance passwd`` takes effect, and ends the logins made with the old
    password, without a restart. Only this key is taken from the file anew; the rest of a changed
    configuration waits for a restart, as before. A file that no longer loads keeps the old hash."""

    def __init__(self, config: Config):
        self.file = config.file
        self._lock = threading.Lock()
        self._hash = config.auth.password_hash
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int, int] | None:
        if self.file is None:
            return None
        try:
            found = os.stat(self.file)
        except OSError:
            return None
        return found.st_mtime_ns, found.st_size, found.st_ino  # a replaced file is a new inode

    def current(self) -> str:
        stamp = self._stamp()  # one stat per use: cheap next to the request it serves
        with self._lock:
            if stamp != self._seen:
                self._seen = stamp
                try:
                    self._hash = load_file(self.file).auth.password_hash
                except ConfigError as exc:
                    log.warning("the configuration changed but does not load; the password stays: %s", exc)
            return self._hash


@dataclass
class Tally:
    """Failures of one client (or of all) and when the last was."""

    failures: int = 0
    last: float = 0.0


@dataclass(frozen=True)
class Slowing:
    """After ``free`` failures, each further attempt waits ``first`` seconds after the last
    failure, doubled with each failure up to ``longest``; a tally quiet for ``forget`` is cleared."""

    free: int
    first: float
    longest: float
    forget: float

    def wait(self, tally: Tally, now: float) -> float:
        if tally.failures < self.free:
            return 0.0
        delay = min(self.first * 2 ** (tally.failures - self.free), self.longest)
        return max(0.0, tally.last + delay - now)

    def forgotten(self, tally: Tally, now: float) -> bool:
        return now - tally.last > self.forget


PER_ADDRESS = Slowing(free=5, first=1.0, longest=300.0, forget=3600.0)
# Many addresses guessing together (a botnet, IPv6 addresses without end) are slowed as one, but
# later and less, so they cannot shut the owner out for long.
OVERALL = Slowing(free=50, first=1.0, longest=60.0, forget=3600.0)
MAX_ADDRESSES = 4096  # tallies kept; the longest unused is dropped beyond


class LoginThrottle:
    """Failed logins per client address and overall. A client asks ``wait`` before its password is
    checked (nothing is checked while it must wait: the answer is a 429 with the seconds left),
    and reports ``failed`` or ``succeeded`` after. Nobody sleeps: request threads are few."""

    def __init__(
        self,
        per_address: Slowing = PER_ADDRESS,
        overall: Slowing = OVERALL,
        max_addresses: int = MAX_ADDRESSES,
        clock=time.monotonic,
    ):
        self.per_address = per_address
        self.overall = overall
        self.max_addresses = max_addresses
        self.clock = clock
        self._lock = threading.Lock()
        self._addresses: OrderedDict[str, Tally] = OrderedDict()
        self._overall = Tally()

    def wait(self, address: str) -> int:
        """Whole seconds ``address`` must wait before it may try again; 0 when it may now."""
        now = self.clock()
        with self._lock:
            tally = self._addresses.get(address, Tally())
            seconds = max(self.per_address.wait(tally, now), self.overall.wait(self._overall, now))
        return math.ceil(seconds)

    def failed(self, address: str) -> None:
        now = self.clock()
        with self._lock:
            tally = self._addresses.pop(address, None) or Tally()
            self._addresses[address] = tally  # now the most recently used
            while len(self._addresses) > self.max_addresses:
                self._addresses.popitem(last=False)
            for each, slowing in ((tally, self.per_address), (self._overall, self.overall)):
                if slowing.forgotten(each, now):
                    each.failures = 0
                each.failures += 1
                each.last = now

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._addresses.pop(address, None)
