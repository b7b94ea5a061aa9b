"""The JSON the runners and the observer send, checked on the way in: a malformed request is a
400 that names the field, never a half-recorded build. Every number is checked against its range
(``appliance.ci.limits``): a value SQLite cannot hold would be a 500, and one no page can show
would break every page that lists it."""

from __future__ import annotations

import re
from typing import Any

from appliance.ci.limits import COMMAND_SECONDS, COMMIT_TIMES, EXIT_CODES, IDS, TEST_COUNTS, within
from appliance.ci.queue import CommitSpec
from appliance.ci.results import Result
from appliance.ci.statuses import RESULTS
from appliance.schema import safe_name

SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
MAX_TEXT = 10_000
KINDS = {
    str: "a string",
    int: "an integer",
    (int, float): "a number",
    list: "a list",
    dict: "an object",
    (str, dict): "a repository name",
}


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


def _number(
    obj: Any,
    key: str,
    kind: type | tuple[type, ...],
    where: str,
    bounds: tuple[float, float],
    default: Any = ...,
) -> Any:
    """A number field within ``bounds`` (never NaN or an infinity, which Python's ``json`` reads)."""
    value = _get(obj, key, kind, where, default)
    if value is not None and not within(value, bounds):
        low, high = bounds
        raise ProtocolError(f"{where}{key} must be between {low} and {high}, got {value!r:.40}")
    return value


def _count(obj: dict, key: str, where: str) -> int | None:
    return _number(obj, key, int, where, TEST_COUNTS, None)


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
        held.add((_number(item, "build", int, where, IDS), _number(item, "attempt", int, where, IDS)))
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
    seconds = _number(body, "command_seconds", (int, float), "", COMMAND_SECONDS, None)
    return runner, Result(
        status=status,
        exit_code=_number(body, "exit_code", int, "", EXIT_CODES, None),
        tests=_count(counts, "tests", "counts."),
        failures=_count(counts, "failures", "counts."),
        errors=_count(counts, "errors", "counts."),
        skipped=_count(counts, "skipped", "counts."),
        command_seconds=float(seconds) if seconds is not None else None,
        reason=_get(body, "reason", str, "", None),
    )


def rebuild(body: Any) -> tuple[str, str | None]:
    """``{"commit": "<the start of a commit id>", "repo": "<name>"}`` (``repo`` optional): the
    commit's prefix in lower case, at least 4 characters of it, and the repository if named."""
    commit = text(body, "commit")
    if len(commit) < 4:
        raise ProtocolError("commit must be at least 4 characters of the commit id")
    return commit.lower(), text(body, "repo", None)


def commits(body: Any) -> tuple[str, list[CommitSpec]]:
    """``{"repo": "<name in [[ci.repos]]>", "commits": [{"sha", "author", "message",
    "committed_at"}]}``, commits oldest first: the repository's name and its commits. The older
    ``{"repo": {"name": ..., "url": ..., ...}}`` is read too, but only its name: what a repository
    is and runs comes from the server's configuration alone, never from a request."""
    repo = _get(body, "repo", (str, dict), "")
    if isinstance(repo, dict):
        repo_name = name(_get(repo, "name", str, "repo."), "repo.name")
    else:
        repo_name = name(repo, "repo")
    items = _get(body, "commits", list, "")
    if len(items) > 1000:
        raise ProtocolError("at most 1000 commits per request")
    parsed = []
    for index, item in enumerate(items):
        where = f"commits[{index}]."
        sha = _get(item, "sha", str, where)
        if not SHA.match(sha):
            raise ProtocolError(f"{where}sha must be a full hexadecimal commit id, got {sha!r}")
        when = _number(item, "committed_at", (int, float), where, COMMIT_TIMES, None)
        parsed.append(
            CommitSpec(
                sha=sha,
                author=_get(item, "author", str, where, ""),
                message=_get(item, "message", str, where, ""),
                committed_at=float(when) if when is not None else None,
            )
        )
    return repo_name, parsed
