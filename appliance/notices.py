"""Notices for the status page: small JSON files that programs outside the server (the image's
first boot) leave in a directory, ``{"title": ..., "message": ..., "action": ...}`` each.

Reading them never fails the page: a file too large, unreadable or of another shape is left out
with one log line, and at most ``MAX_NOTICES`` files are read.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

MAX_NOTICES = 16
MAX_NOTICE_BYTES = 4096

log = logging.getLogger(__name__)


def read_notices(directory: Path) -> list[dict[str, str]]:
    """The notices of ``directory`` (``*.json``) in the order of their file names."""
    try:
        paths = sorted(path for path in directory.iterdir() if path.suffix == ".json")
    except OSError:  # no directory: no notices
        return []
    if len(paths) > MAX_NOTICES:
        log.warning("%s: %d notices, showing the first %d", directory, len(paths), MAX_NOTICES)
    notices = []
    for path in paths[:MAX_NOTICES]:
        try:
            notices.append(_read_notice(path))
        except (OSError, ValueError) as exc:
            log.warning("notice %s left out: %s", path, exc)
    return notices


def read_head(path: Path, limit: int) -> bytes:
    """At most ``limit`` bytes of the regular file ``path``; OSError, or ValueError for anything
    but a regular file."""
    # Not following links and not waiting on a FIFO: whoever wrote the directory chose the file.
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise ValueError("not a regular file")
        return file.read(limit)


def _read_notice(path: Path) -> dict[str, str]:
    data = read_head(path, MAX_NOTICE_BYTES + 1)
    if len(data) > MAX_NOTICE_BYTES:
        raise ValueError(f"larger than {MAX_NOTICE_BYTES} bytes")
    notice = json.loads(data.decode("utf-8"))  # a UnicodeDecodeError is a ValueError too
    if not isinstance(notice, dict):
        raise ValueError("not a JSON object")
    action = notice.get("action", "")
    if not all(isinstance(value, str) for value in (notice.get("title"), notice.get("message"), action)):
        raise ValueError('expected the strings "title" and "message", and "action" if any')
    return {"title": notice["title"], "message": notice["message"], "action": action}
