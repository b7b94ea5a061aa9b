"""The JSON the runners and the observer send, checked on the way in: a malformed request is a
400 that names the field, never a half-recorded build."""

from __future__ import annotations

import re
from typing import Any

from appliance.ci.schema import RESULTS
from appliance.ci.store import CommitSpec, RepoSpec, Result
from appliance.schema import safe_name

SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
MAX_TEXT = 10_000
KINDS = {str: "a string", int: "an integer", (int, float): "a number", list: "a list", dict: "an object"}


class ProtocolError(ValueError):
    """A request body that does not have the documented shape; the message says where."""


def _get(obj: Any, key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    if not isinstance(obj, dict):
        raise ProtocolError(f"{where or 'the body'} must be a JSON object")
    if key not in obj or obj[key] is None:
        if default is ...:
            raise ProtocolError(f"{where}{key} is required")
        return default
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ProtocolError(f"{where}{key} must be {KINDS[kind]}, got {value!r:.40}")
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise ProtocolError(f"{where}{key} is longer than {MAX_TEXT} characters")
    return value


def _count(obj: dict, key: str, where: str) -> int | None:
    value = _get(obj, key, int, where, None)
    if value is not None and value < 0:
        raise ProtocolError(f"{where}{key} must be 0 or more")
    return value


def text(body: Any, key: str, default: Any = ...) -> Any:
    """A string field of a JSON object body."""
    return _get(body, key, str, "", default)


def name(value: str, what: str) -> str:
    problem = safe_name(value)
    if problem:
        raise ProtocolError(f"{what} {value!r} {problem}")
    return value


def held_builds(body: Any) -> set[tuple[int, int]]:
    """``{"builds": [{"build": 12, "attempt": 1}, ...]}``: the attempts a runner holds."""
    items = _get(body, "builds", list, "", [])
    held = set()
    for index, item in enumerate(items):
        where = f"builds[{index}]."
        held.add((_get(item, "build", int, where), _get(item, "attempt", int, where)))
    return held


def registration(body: Any) -> tuple[list[str], int, set[tuple[int, int]]]:
    labels = _get(body, "labels", list, "", [])
    if not all(isinstance(label, str) and label for label in labels):
        raise ProtocolError("labels must be a list of non-empty strings")
    capacity = _get(body, "capacity", int, "", 1)
    if not 1 <= capacity <= 64:
        raise ProtocolError("capacity must be between 1 and 64")
    return labels, capacity, held_builds(body)


def result(body: Any) -> tuple[str, Result]:
    runner = name(_get(body, "runner", str, ""), "runner")
    status = _get(body, "status", str, "")
    if status not in RESULTS:
        raise ProtocolError(f"status must be one of {', '.join(RESULTS)}, got {status!r}")
    counts = _get(body, "counts", dict, "", {})
    seconds = _get(body, "command_seconds", (int, float), "", None)
    return runner, Result(
        status=status,
        exit_code=_get(body, "exit_code", int, "", None),
        tests=_count(counts, "tests", "counts."),
        failures=_count(counts, "failures", "counts."),
        errors=_count(counts, "errors", "counts."),
        skipped=_count(counts, "skipped", "counts."),
        command_seconds=float(seconds) if seconds is not None else None,
        reason=_get(body, "reason", str, "", None),
    )


def commits(body: Any) -> tuple[RepoSpec, list[CommitSpec]]:
    """``{"repo": {"name", "url", "branch", "command"}, "commits": [{"sha", "author", "message",
    "committed_at"}]}``, commits oldest first."""
    repo = _get(body, "repo", dict, "")
    spec = RepoSpec(
        name=name(_get(repo, "name", str, "repo."), "repo.name"),
        url=_get(repo, "url", str, "repo."),
        branch=_get(repo, "branch", str, "repo."),
        command=_get(repo, "command", str, "repo.", ""),
    )
    items = _get(body, "commits", list, "")
    if len(items) > 1000:
        raise ProtocolError("at most 1000 commits per request")
    parsed = []
    for index, item in enumerate(items):
        where = f"commits[{index}]."
        sha = _get(item, "sha", str, where)
        if not SHA.match(sha):
            raise ProtocolError(f"{where}sha must be a full hexadecimal commit id, got {sha!r}")
        when = _get(item, "committed_at", (int, float), where, None)
        parsed.append(
            CommitSpec(
                sha=sha,
                author=_get(item, "author", str, where, ""),
                message=_get(item, "message", str, where, ""),
                committed_at=float(when) if when is not None else None,
            )
        )
    return spec, parsed
