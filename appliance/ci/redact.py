"""Repository URLs fit to show: ``http://alice:secret@host/x.git`` is shown as
``http://alice:***@host/x.git`` in every page, JSON answer and log line. Only git is given the
URL itself (the runner's work item, the observer's fetch)."""

from __future__ import annotations

import re

# scheme://user:password@ -- the password runs to the last "@" before the path, as git and curl
# read it, and never across white space, so that a URL inside a message is found as well.
_PASSWORD = re.compile(r"(?P<user>\b[A-Za-z][A-Za-z0-9+.-]*://[^/?#@:\s]*):[^/?#\s]*@")


def redact(text: str) -> str:
    """``text`` (a URL, or a message naming URLs) with the password of every URL replaced."""
    return _PASSWORD.sub(r"\g<user>:***@", text)
