"""``GET /events``: the one Server-Sent-Events stream that every live page listens to.

``?topic=NAME`` (repeatable) narrows it; a reconnecting browser's ``Last-Event-ID`` replays what
it missed. A comment every few seconds keeps proxies from closing the connection and lets the
server notice a browser that went away.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, request

from appliance.web import services

bp = Blueprint("events", __name__)

KEEPALIVE_SECONDS = 15.0


@bp.get("/events")
def stream():
    last_id = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    if last_id is not None:
        try:
            last_id = int(last_id)
        except ValueError:
            abort(400, description=f"Last-Event-ID must be an integer, got {last_id!r}")
    bus = services().bus
    topics = request.args.getlist("topic") or None

    def generate():
        # Subscribed only once the stream is read, so an abandoned response leaves nothing behind.
        with bus.subscribe(topics, last_id) as subscription:
            yield "retry: 3000\n\n"
            while True:
                event = subscription.get(timeout=KEEPALIVE_SECONDS)
                if event is not None:
                    yield event.to_sse()
                elif subscription.dropped:
                    return
                else:
                    yield ": keepalive\n\n"

    return Response(
        generate(),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
