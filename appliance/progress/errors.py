"""What the progress tracker refuses, one class per answer the API gives (404, 409)."""

from __future__ import annotations


class NotFound(LookupError):
    """No such machine, run, scenario or test."""


class Conflict(Exception):
    """A valid report that contradicts the state: no waiting test of that name to start."""
