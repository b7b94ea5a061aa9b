"""Status sources: each reads one CI or deployment system and says one State.

A polled source is an ``HttpSource`` (``sources/http.py``) built from its ``[[monitor.<kind>]]``
settings and the shared ``Http`` client; one fed by the server's events reads what its feed's
thread knows (``sources/feed.py``; ``own_ci.py``, ``progress.py``). Its ``poll()`` returns a
Reading or raises SourceError. Whatever goes wrong while reading is one SourceError whose message
a user can act on and which never holds a secret, of one of two kinds: SourceUnavailable for
what may pass by itself (no connection, no answer in time, a server error, a lost event stream:
SourceLost), SourceRefused for what waiting cannot heal (credentials refused, a wrong URL, an
answer of the wrong shape). The monitor keeps a source's last state through the first for
``stale_after`` seconds, and shows the second as unreachable at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from appliance.config import ConfigError, Secret
from appliance.monitor.states import State


class SourceError(Exception):
    """A source that could not be read; the message says why, without any secret. Raise one of
    its two kinds: the monitor counts anything else as a refusal."""


class SourceUnavailable(SourceError):
    """Not read for a reason that may pass by itself: the connection, the time, a server error."""


class SourceLost(SourceUnavailable):
    """A source that knows since when it has been unreadable (``since``, on the monitor's clock):
    an event stream is read continuously, so it was good until it was lost, however long ago the
    monitor last asked it."""

    def __init__(self, message: str, since: float):
        super().__init__(message)
        self.since = since


class SourceRefused(SourceError):
    """Refused for a reason that waiting cannot heal: credentials, a wrong URL or name, an answer
    of the wrong shape or size, a secret that cannot be read."""


@dataclass(frozen=True)
class Reading:
    """What a source says: its state, a link to look at, one line of detail."""

    state: State
    link: str | None = None
    detail: str | None = None


class Source(Protocol):
    kind: str
    name: str
    interval: float

    def poll(self) -> Reading: ...


def building_after(previous: State | None) -> State:
    """A build in progress, coloured by the last finished one: only a failure makes it "after
    failure"; a success, a cancellation or no previous build at all is "after success"."""
    return State.BUILDING_AFTER_FAILURE if previous is State.FAILURE else State.BUILDING_AFTER_SUCCESS


def expect(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``obj[key]`` when ``obj`` is an object holding a ``kind`` there; else a SourceRefused saying
    the answer did not have the documented shape."""
    value = expect_object(obj, where).get(key)
    if not isinstance(value, kind):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise SourceRefused(f"unexpected answer from {where}: {key!r} should be {names}, got {value!r:.60}")
    return value


def expect_object(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise SourceRefused(
            f"unexpected answer from {where}: expected a JSON object, got {type(value).__name__}"
        )
    return value


def expect_list(value: Any, where: str) -> list:
    if not isinstance(value, list):
        raise SourceRefused(
            f"unexpected answer from {where}: expected a JSON list, got {type(value).__name__}"
        )
    return value


def reveal(secret: Secret | None, what: str) -> str | None:
    """The secret's value, read at each poll so that a rotated key is picked up; a secret that
    cannot be read makes the source unreadable, not the monitor stop."""
    if secret is None:
        return None
    try:
        return secret.reveal()
    except ConfigError as exc:
        raise SourceRefused(f"{what}: {exc}") from None
