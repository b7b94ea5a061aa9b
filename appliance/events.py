"""The in-process event bus behind ``GET /events``: every capability publishes here, every live
page listens here.

Each event gets a sequence number; recent events are kept, bounded in count and in bytes, so
that a browser that reconnects with ``Last-Event-ID`` misses nothing after a short drop. A
listener is anything with ``wants(topic)`` and ``deliver(event)``: a ``Subscription`` (a bounded
queue read by a thread) or the server's event-loop fan-out to browsers
(``appliance/web/streams.py``). A listener that stops reading is dropped instead of holding
memory without limit; its browser reconnects.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    id: int
    topic: str
    data: dict[str, Any]
    time: float
    # Serialised once at publish: every stream sends the same bytes, and the history counts them.
    sse: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        payload = json.dumps(self.data, separators=(",", ":"), default=str)
        object.__setattr__(self, "sse", f"id: {self.id}\nevent: {self.topic}\ndata: {payload}\n\n")

    def to_sse(self) -> str:
        return self.sse


def topic_selected(topic: str, topics: frozenset[str] | None) -> bool:
    """None selects everything; "ci" also selects "ci.build", "ci.runner": pages subscribe to a
    capability, not to each of its topics."""
    if topics is None or topic in topics:
        return True
    return any(topic.startswith(t + ".") for t in topics)


class Listener(Protocol):
    def wants(self, topic: str) -> bool: ...

    def deliver(self, event: Event) -> None:
        """Called outside the bus's lock on the publishing thread; must not block."""


class Subscription:
    """A listener read by a thread: ``get()`` the next event, or None."""

    def __init__(self, bus: EventBus, topics: frozenset[str] | None, maxsize: int):
        self._bus = bus
        self.topics = topics
        self.queue: queue.Queue[Event | None] = queue.Queue(maxsize=maxsize)
        self.dropped = False

    def wants(self, topic: str) -> bool:
        return topic_selected(topic, self.topics)

    def deliver(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            self._drop()

    def _drop(self) -> None:
        self._bus.remove(self)
        self.dropped = True
        # Make room for the end marker so that the reader stops now rather than at its next timeout.
        try:
            self.queue.get_nowait()
        except queue.Empty:
            pass
        self.queue.put_nowait(None)

    def get(self, timeout: float) -> Event | None:
        """The next event, or None after ``timeout`` seconds or once the bus dropped this one."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._bus.remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self, history: int = 500, history_bytes: int = 1024 * 1024, subscriber_queue: int = 1000):
        # Reentrant: a listener dropped while the bus delivers a replay to it removes itself.
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._history: deque[Event] = deque(maxlen=history)
        self._history_bytes = 0
        self._max_history_bytes = history_bytes
        self._listeners: set[Listener] = set()
        self._subscriber_queue = subscriber_queue

    def publish(self, topic: str, data: dict[str, Any]) -> Event:
        with self._lock:
            event = Event(next(self._ids), topic, data, time.time())
            if len(self._history) == self._history.maxlen:
                self._history_bytes -= len(self._history[0].sse)
            self._history.append(event)
            self._history_bytes += len(event.sse)
            while self._history_bytes > self._max_history_bytes and len(self._history) > 1:
                self._history_bytes -= len(self._history.popleft().sse)
            listeners = [listener for listener in self._listeners if listener.wants(topic)]
        for listener in listeners:
            listener.deliver(event)
        return event

    def add(self, listener: Listener, replay_after: int | None = None) -> None:
        """Start delivering to ``listener``, first the kept events after ``replay_after``."""
        with self._lock:
            if replay_after is not None:
                for event in self.history_after(replay_after):
                    if listener.wants(event.topic):
                        listener.deliver(event)
            self._listeners.add(listener)

    def history_after(self, last_id: int) -> list[Event]:
        """The kept events newer than ``last_id``, oldest first."""
        with self._lock:
            return [event for event in self._history if event.id > last_id]

    def remove(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def subscribe(
        self, topics: Iterable[str] | None = None, last_event_id: int | None = None
    ) -> Subscription:
        """A new subscription, first fed the kept events after ``last_event_id`` when given."""
        sub = Subscription(self, frozenset(topics) if topics else None, self._subscriber_queue)
        self.add(sub, last_event_id)
        return sub

    def listening_to(self, topic: str) -> bool:
        """Whether anyone would receive an event of ``topic``: work done only for listeners
        (polling supervisord for the stack's state) is skipped when nobody would see it."""
        with self._lock:
            return any(listener.wants(topic) for listener in self._listeners)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._listeners)
