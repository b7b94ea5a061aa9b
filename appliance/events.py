"""The in-process event bus behind ``GET /events``: every capability publishes here, every live
page listens here.

Each event gets a sequence number; the last few hundred are kept so that a browser that
reconnects with ``Last-Event-ID`` misses nothing. A subscriber that stops reading is dropped
(its queue is bounded) instead of holding memory without limit; its browser reconnects.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    id: int
    topic: str
    data: dict[str, Any]
    time: float

    def to_sse(self) -> str:
        payload = json.dumps(self.data, separators=(",", ":"), default=str)
        return f"id: {self.id}\nevent: {self.topic}\ndata: {payload}\n\n"


class Subscription:
    def __init__(self, bus: EventBus, topics: frozenset[str] | None, maxsize: int):
        self._bus = bus
        self.topics = topics
        self.queue: queue.Queue[Event | None] = queue.Queue(maxsize=maxsize)
        self.dropped = False

    def wants(self, event: Event) -> bool:
        return self.topics is None or event.topic in self.topics or _prefix_match(event, self.topics)

    def get(self, timeout: float) -> Event | None:
        """The next event, or None after ``timeout`` seconds or once the bus dropped this one."""
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _prefix_match(event: Event, topics: frozenset[str]) -> bool:
    # "ci" also selects "ci.build", "ci.runner": pages subscribe to a capability, not each topic.
    return any(event.topic.startswith(t + ".") for t in topics)


class EventBus:
    def __init__(self, history: int = 500, subscriber_queue: int = 1000):
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._history: deque[Event] = deque(maxlen=history)
        self._subscribers: set[Subscription] = set()
        self._subscriber_queue = subscriber_queue

    def publish(self, topic: str, data: dict[str, Any]) -> Event:
        with self._lock:
            event = Event(next(self._ids), topic, data, time.time())
            self._history.append(event)
            subscribers = [s for s in self._subscribers if s.wants(event)]
        for sub in subscribers:
            try:
                sub.queue.put_nowait(event)
            except queue.Full:
                self._drop(sub)
        return event

    def subscribe(
        self, topics: Iterable[str] | None = None, last_event_id: int | None = None
    ) -> Subscription:
        """A new subscription, first fed the kept events after ``last_event_id`` when given."""
        sub = Subscription(self, frozenset(topics) if topics else None, self._subscriber_queue)
        with self._lock:
            if last_event_id is not None:
                for event in self._history:
                    if event.id > last_event_id and sub.wants(event):
                        sub.queue.put_nowait(event)
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(sub)

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def _drop(self, sub: Subscription) -> None:
        self.unsubscribe(sub)
        sub.dropped = True
        # Make room for the end marker so the stream closes now rather than at its next timeout.
        try:
            sub.queue.get_nowait()
        except queue.Empty:
            pass
        sub.queue.put_nowait(None)
