"""The checks of a configuration beyond each key's own (``setting(..., check)``, ``required``):
those that look at several keys or sections at once, and that of `[stack] command`.

``appliance.config.load_file`` runs them once the schema has built the configuration, so a file
that `appliance config check` passes is one that every program starts with: the programs only
load, and check nothing of the configuration again at start.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from appliance.monitor.settings import source_problems

if TYPE_CHECKING:
    from appliance.config import Config


def validate(config: Config) -> list[str]:
    """Every problem of ``config`` beyond its keys' own checks, as "dotted.key: problem"."""
    problems = source_problems(config.monitor, config.ci)
    if problem := command_line(config.stack.command):
        problems.append(f"stack.command: {problem}, got {config.stack.command!r}")
    return problems


def command_line(value: str) -> str | None:
    """`[stack] command` as `appliance stack generate` splits it: shell words, at least one when set.
    A check of one key, fit for ``setting(..., check)`` on `StackConfig.command`."""
    try:
        words = shlex.split(value)
    except ValueError as exc:
        return f"not a command line ({exc})"
    return "names no command" if value and not words else None
