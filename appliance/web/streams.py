"""``GET /events``: the one Server-Sent-Events stream that every live page listens to, served on
the server's event loop so that an open page costs a few kilobytes and no thread.

``?topic=NAME`` (repeatable) narrows it; a reconnecting browser's ``Last-Event-ID`` replays what
it missed. A comment every few seconds keeps proxies from closing the connection. A browser that
goes away is noticed at once (the loop sees the connection close); one that stops reading is cut
off after ``WRITE_TIMEOUT`` or once its queue is full, and reconnects with ``Last-Event-ID``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from urllib.parse import parse_qs

from appliance.events import Event, EventBus, topic_selected
from appliance.web.errors import error_body

KEEPALIVE_SECONDS = 15.0
WRITE_TIMEOUT = 30.0
STREAM_QUEUE = 256  # events waiting for one browser; they are shared, so this costs references
TOPIC_LIMIT = 32
_CLOSED = None  # put in a stream's queue to end it


class Stream:
    def __init__(self, topics: frozenset[str] | None):
        self.topics = topics
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(STREAM_QUEUE)
        self.last_sent = 0

    def offer(self, event: Event) -> None:
        """Queue ``event`` (on the loop); a stream too far behind is ended rather than buffered."""
        if event.id <= self.last_sent or not topic_selected(event.topic, self.topics):
            return
        self.last_sent = event.id
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.close()

    def close(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(_CLOSED)


class EventStreams:
    """Every open ``/events`` stream of one event loop, fed by one listener on the bus: the bus
    calls ``deliver`` on the publishing thread, which hands the event to the loop once."""

    def __init__(self, bus: EventBus, max_streams: int):
        self.bus = bus
        self.max_streams = max_streams
        self.streams: set[Stream] = set()
        self._streams_lock = threading.Lock()  # the bus asks wants() from publishing threads
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- the bus's side (any thread) -----------------------------------------------------------

    def wants(self, topic: str) -> bool:
        with self._streams_lock:
            return any(topic_selected(topic, stream.topics) for stream in self.streams)

    def deliver(self, event: Event) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._fan_out, event)

    def close_all(self) -> None:
        """End every stream (on the loop), as the server stops."""
        with self._streams_lock:
            streams = list(self.streams)
        for stream in streams:
            stream.close()

    def _fan_out(self, event: Event) -> None:
        with self._streams_lock:
            streams = list(self.streams)
        for stream in streams:
            stream.offer(event)

    # --- the loop's side ------------------------------------------------------------------------

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await send_json(send, 405, "use GET for /events", [(b"allow", b"GET, HEAD")])
            return
        query = parse_qs(scope["query_string"].decode("latin-1"))
        topics = query.get("topic", [])
        if len(topics) > TOPIC_LIMIT or any(len(t) > 64 for t in topics):
            await send_json(send, 400, f"at most {TOPIC_LIMIT} topics of at most 64 characters each")
            return
        headers = dict(scope["headers"])
        raw_last = headers.get(b"last-event-id", b"").decode("latin-1") or query.get("last_event_id", [""])[0]
        last_id = None
        if raw_last:
            if not raw_last.isdigit() or len(raw_last) > 18:
                await send_json(send, 400, f"Last-Event-ID must be a whole number, got {raw_last[:40]!r}")
                return
            last_id = int(raw_last)
        if len(self.streams) >= self.max_streams:
            await send_json(
                send, 503, "too many open event streams; try again shortly", [(b"retry-after", b"5")]
            )
            return
        stream = Stream(frozenset(topics) if topics else None)
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self.bus.add(self)
        with self._streams_lock:
            self.streams.add(stream)
        try:
            # Replayed here on the loop, so replay and live events cannot interleave out of order.
            for event in self.bus.history_after(last_id) if last_id is not None else ():
                stream.offer(event)
            await self._serve(stream, scope, receive, send)
        finally:
            with self._streams_lock:
                self.streams.discard(stream)

    async def _serve(self, stream: Stream, scope: dict, receive, send) -> None:
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream; charset=utf-8"),
                (b"cache-control", b"no-cache"),
                (b"x-accel-buffering", b"no"),
            ],
        }
        if not await _send_within(send, start) or scope["method"] == "HEAD":
            await _send_within(send, {"type": "http.response.body", "body": b""})
            return
        watcher = asyncio.create_task(_until_disconnected(receive, stream))
        try:
            chunk = b"retry: 3000\n\n"
            while chunk is not None:
                message = {"type": "http.response.body", "body": chunk, "more_body": True}
                if not await _send_within(send, message):
                    return  # the browser reads nothing: the connection is dropped unfinished
                chunk = await _next_chunk(stream)
            # Ended by the server (stopping, or too far behind): the browser reconnects.
            await _send_within(send, {"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()


async def _next_chunk(stream: Stream) -> bytes | None:
    try:
        async with asyncio.timeout(KEEPALIVE_SECONDS):
            event = await stream.queue.get()
    except TimeoutError:
        return b": keepalive\n\n"
    return None if event is None else event.sse.encode("utf-8")


async def _until_disconnected(receive, stream: Stream) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    stream.close()


async def _send_within(send, message: dict) -> bool:
    """Send, or give up on a browser that has not read for ``WRITE_TIMEOUT`` seconds."""
    try:
        async with asyncio.timeout(WRITE_TIMEOUT):
            await send(message)
    except TimeoutError:
        return False
    return True


async def send_json(send, status: int, message: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    """An error in the one error shape, answered from the event loop."""
    body = json.dumps(error_body(status, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
