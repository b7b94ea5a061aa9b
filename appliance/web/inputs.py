"""What a request may carry, checked before any view uses it: JSON bodies of a bounded size and
depth with text that SQLite can store, and path ids that fit the database's 64-bit integers.

A client's mistake here is a 4xx in the one error shape, never a 500: ``json.loads`` alone lets a
100,000-deep nesting raise RecursionError, accepts ``NaN`` and ``Infinity``, and passes lone
surrogates that no UTF-8 column can hold.
"""

from __future__ import annotations

import json
from typing import Any

from flask import abort, request
from werkzeug.routing import IntegerConverter

# The largest body any route takes: a runner's log chunk (1 MiB) with room for its framing.
MAX_BODY_BYTES = 1024 * 1024 + 4096
JSON_BODY_BYTES = 64 * 1024
LARGEST_ID = 2**63 - 1


class IdConverter(IntegerConverter):
    """``<id:name>``: a positive id that fits SQLite's INTEGER; anything else is a 404."""

    def __init__(self, map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, min=1, max=LARGEST_ID)


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


class BadInput(Exception):
    """A body refused before any view sees it: its status and the message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def check_json_type(content_type: str) -> None:
    """``application/json`` or any ``application/*+json``, parameters aside (as Flask's
    ``is_json``); else BadInput 400."""
    mimetype = content_type.partition(";")[0].strip().lower()
    if mimetype != "application/json" and not (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    ):
        raise BadInput(400, "expected a JSON body (Content-Type: application/json)")


def parse_json(raw: bytes, content_type: str, limit: int = JSON_BODY_BYTES) -> Any:
    """A body as JSON, or BadInput: 400 for a wrong type or anything that is not JSON, 413 past
    ``limit`` bytes. Flask's views (``json_body``) and the event loop's report path use it."""
    check_json_type(content_type)
    if len(raw) > limit:
        raise BadInput(413, f"the body is {len(raw)} bytes; this call takes at most {limit}")
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise BadInput(400, "the JSON body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput(400, f"the body is not valid JSON: {exc}"[:300]) from None
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadInput(400, "the JSON body holds text that is not valid Unicode (a lone surrogate)") from None
    return body


def json_body(limit: int = JSON_BODY_BYTES) -> Any:
    """The request's JSON body; 413 past ``limit`` bytes, 400 for anything that is not JSON."""
    try:
        check_json_type(request.content_type or "")
        size = request.content_length
        if size is None:
            abort(411, description="send the JSON body with a Content-Length")
        if size > limit:  # refused before the body is read
            abort(413, description=f"the body is {size} bytes; this call takes at most {limit}")
        return parse_json(request.get_data(cache=True), request.content_type or "", limit)
    except BadInput as refused:
        abort(refused.status, description=refused.message)
