"""What the CI's state refuses, one class per answer the API gives (404, 409, 413)."""

from __future__ import annotations


class NotFound(LookupError):
    """No such build, attempt, runner or repository."""


class Conflict(Exception):
    """The request is valid but contradicts the state: a finished build, a lost attempt."""


class LogOffsetMismatch(Conflict):
    def __init__(self, offset: int):
        super().__init__(f"the server has {offset} bytes of this log: send from offset {offset}")
        self.offset = offset


class LogTooLarge(Exception):
    """An append beyond the configured ``max_log_bytes``."""
