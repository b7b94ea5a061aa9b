"""The `[ci]` section: the repositories to build and how builds are run."""

from __future__ import annotations

import re
from dataclasses import dataclass

from appliance.ci.environment import env_problem
from appliance.schema import Secret, non_negative, positive, safe_name, setting


@dataclass(frozen=True)
class CIRepoConfig:
    name: str = setting("", "Short name of the repository: in URLs, file names and `/cc.xml`.", safe_name)
    url: str = setting("", "Where to fetch it: anything `git clone` takes (a path, file://, https://, ssh).")
    branch: str = setting("main", "The branch whose commits are built.")
    command: str = setting(
        "",
        "Build command, run by /bin/sh in a clean checkout; empty: unittest discovery of `tests/` "
        "(`python -m unittest discover -s tests`) with the runner's Python, in a subprocess.",
    )
    poll_seconds: float = setting(
        60.0, "How often the observer fetches; a webhook makes it look at once.", positive
    )
    secret: Secret | None = setting(
        None, "Webhook secret: when set, `POST /api/ci/hooks/<name>` must carry a valid X-Hub-Signature-256."
    )
    # A table of strings, not of str | Secret: the file is shown back as written (`config show`),
    # and the server reveals the references only when it hands out a build.
    env: dict[str, str] = setting(
        {},
        "Environment variables of its builds, NAME = value; a value `env:NAME` or `file:/path` is a "
        "secret reference, read by the server for each build and masked in the log.",
        env_problem,
    )


def _user_name_problem(name: str) -> str | None:
    if name and not re.fullmatch(r"[a-z_][a-z0-9_-]*[$]?", name):
        return f"{name!r} is not a user name"
    return None


def _repos_problem(repos: list[CIRepoConfig]) -> str | None:
    names = [repo.name for repo in repos]
    if any(not repo.name or not repo.url for repo in repos):
        return "every repository needs a name and a url"
    if len(set(names)) != len(names):
        return "repository names must be unique"
    return None


@dataclass(frozen=True)
class CIConfig:
    repos: list[CIRepoConfig] = setting(
        [], "The repositories to build, as `[[ci.repos]]` tables (`name`, `url`, ...).", _repos_problem
    )
    runners: int = setting(
        1, "Runner programs (`runner-1`..) the stack runs here when repositories are set.", non_negative
    )
    max_attempts: int = setting(
        3, "Attempts of a build whose runner vanished, before it ends as error.", positive
    )
    lease_seconds: float = setting(
        60.0, "A runner silent this long has lost its builds; it renews every third of it.", positive
    )
    wait_seconds: float = setting(
        25.0, "Longest a runner's request for work is held open (long poll).", positive
    )
    timeout_seconds: float = setting(
        3600.0, "A build command running longer is killed (timed out).", positive
    )
    silence_seconds: float = setting(
        600.0, "A build command printing nothing for this long is killed (timed out).", positive
    )
    kill_grace_seconds: float = setting(
        5.0, "Between SIGTERM and SIGKILL to a build's process group.", non_negative
    )
    commits_per_poll: int = setting(
        20, "Most new commits the observer queues per repository and poll.", positive
    )
    max_log_bytes: int = setting(
        32 * 1024 * 1024, "Largest build log kept; output beyond it is cut with a note.", positive
    )
    build_user: str = setting(
        "",
        "The user builds run as, through `sudo -n -u` (a sudoers rule must let the runner's user "
        "do so), in `<its home>/runners/<runner>/`; empty: as the runner's own user.",
        _user_name_problem,
    )
