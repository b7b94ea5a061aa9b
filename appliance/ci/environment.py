"""The environment a build runs in, made from nothing rather than from the runner's own, which
holds the runner's secrets (the API token, the monitor's keys). A build gets:

- a base: ``PATH`` (the runner's: the tools its operator installed, nothing secret), ``HOME`` and
  ``TMPDIR`` in the build's own directory (removed with it, so nothing of one build reaches the
  next), ``LANG`` and ``LC_ALL`` ``C.UTF-8``;
- its repository's ``env`` (``[[ci.repos]]``), whose secret references (``env:NAME``,
  ``file:/path``) the server reveals when it hands out the build, never storing them;
- the CI variables: ``CI=true``, ``PYTHONUNBUFFERED=1``, ``APPLIANCE_CI_*``.

A repository's ``env`` may change the locale, nothing else the runner sets.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from appliance.schema import ConfigError, Secret

ENV_NAME_PATTERN = r"[A-Z_][A-Z0-9_]*"
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"  # when the runner itself has no PATH
LOCALE = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
RUNNER_NAMES = frozenset({"PATH", "HOME", "TMPDIR", "CI", "PYTHONUNBUFFERED"})
RUNNER_PREFIX = "APPLIANCE_CI_"


def set_by_runner(name: str) -> bool:
    return name in RUNNER_NAMES or name.startswith(RUNNER_PREFIX)


def secret_reference(value: str) -> Secret | None:
    """The secret a value of a repository's ``env`` refers to, or None for a plain value.
    Raises ValueError for a reference without a target (``env:``)."""
    return Secret(value) if value.startswith(("env:", "file:")) else None


def env_problem(env: dict[str, str]) -> str | None:
    """What is wrong with a repository's ``env`` table, or None."""
    for name, value in env.items():
        if not re.fullmatch(ENV_NAME_PATTERN, name):
            return f"{name!r} is not a variable name ({ENV_NAME_PATTERN})"
        if set_by_runner(name):
            return f"{name} is set by the runner"
        try:
            secret_reference(value)
        except ValueError as exc:
            return f"{name}: {exc}"
    return None


def work_env(configured: dict[str, str]) -> dict[str, Any]:
    """A work item's ``env`` (secrets revealed, here in the server at dispatch), ``secret_env``
    (the names whose values the runner masks in the log) and ``env_problems`` (secrets that
    cannot be read: the runner ends the build as an error rather than run it without them)."""
    env: dict[str, str] = {}
    secret_names: list[str] = []
    problems: list[str] = []
    for name, value in configured.items():
        reference = secret_reference(value)
        if reference is None:
            env[name] = value
            continue
        secret_names.append(name)
        try:
            env[name] = reference.reveal()
        except ConfigError as exc:
            problems.append(f"env {name}: {exc}")
    return {"env": env, "secret_env": secret_names, "env_problems": problems}


def build_environment(work: dict[str, Any], scratch: Path) -> dict[str, str]:
    """The whole environment of ``work``'s command, its HOME and TMPDIR in ``scratch``
    (``Workspace.scratch`` makes them, as the user the build runs as)."""
    home, tmp = scratch / "home", scratch / "tmp"
    return {
        **LOCALE,
        **work["env"],
        "PATH": os.environ.get("PATH", DEFAULT_PATH),
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "CI": "true",
        "PYTHONUNBUFFERED": "1",  # output reaches the live log as it is printed
        "APPLIANCE_CI_BUILD": str(work["build"]),
        "APPLIANCE_CI_ATTEMPT": str(work["attempt"]),
        "APPLIANCE_CI_REPO": work["repo"]["name"],
        "APPLIANCE_CI_BRANCH": work["repo"]["branch"],
        "APPLIANCE_CI_COMMIT": work["commit"],
    }
