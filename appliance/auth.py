"""The credentials that state-changing calls must present, one per role.

``admin`` (the API token) may do everything; ``runner`` registers, takes work, heartbeats and
sends logs and results; ``observer`` posts commits; ``monitor`` puts its report; ``progress``
reports test machines' dry runs and tests. So a runner on a build box holds a key that can run
builds, not one that queues or cancels them.

Secure by default: a role with no token configured gets a random one, generated once in the data
directory (mode 0600), so that a fresh appliance on a LAN never accepts anonymous changes.
Programs on the same machine read the same files; programs elsewhere are given their token
through their own config.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from appliance.config import Config, Secret
from appliance.files import private_directory

ROLES = ("admin", "runner", "observer", "monitor", "progress")
SECRETS_DIR = "secrets"


def configured_token(config: Config, role: str) -> Secret | None:
    auth = config.auth
    return {
        "admin": auth.token,
        "runner": auth.runner_token,
        "observer": auth.observer_token,
        "monitor": auth.monitor_token,
        "progress": auth.progress_token,
    }[role]


def token_file(config: Config, role: str) -> Path:
    # The admin's keeps the name it had when it was the only token.
    return config.data_dir / SECRETS_DIR / ("api-token" if role == "admin" else f"{role}-token")


def role_token(config: Config, role: str) -> str:
    """The token ``role`` presents: the configured one, else the generated one (created on first use)."""
    configured = configured_token(config, role)
    if configured is not None:
        return configured.reveal()
    return generated_secret(token_file(config, role))


def session_key(config: Config) -> str:
    """The key that signs the login's session cookies, generated once like the tokens: sessions
    outlive a restart, and removing the file logs everybody out."""
    return generated_secret(config.data_dir / SECRETS_DIR / "session-key")


def generated_secret(path: Path) -> str:
    """The random secret kept in ``path`` (in the data directory's ``secrets/``), made on first use."""
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    private_directory(path.parent.parent, path.parent.name)
    token = secrets.token_urlsafe(32)
    # Written to a private temporary file, then renamed: never readable by others, never half-written.
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    try:
        os.link(temporary, path)  # fails if another process created it meanwhile: use theirs
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    finally:
        temporary.unlink()
    return token


@dataclass(frozen=True)
class Credentials:
    """The server's side: every role's token."""

    tokens: dict[str, str]

    @classmethod
    def of(cls, config: Config) -> Credentials:
        return cls({role: role_token(config, role) for role in ROLES})

    def roles_of(self, presented: str | None) -> set[str]:
        """The roles whose token this is (none for an unknown one); compared with every token in
        constant time, so the answer's timing tells nothing about any of them."""
        if presented is None:
            return set()
        given = presented.encode()
        matches = {role: hmac.compare_digest(token.encode(), given) for role, token in self.tokens.items()}
        return {role for role, matched in matches.items() if matched}


class Requirement:
    """The roles whose token a call takes (the admin's always), and the refusal of any other."""

    def __init__(self, *roles: str):
        if unknown := set(roles) - set(ROLES):
            raise ValueError(f"no such role: {', '.join(sorted(unknown))}")
        self.allowed = {"admin", *roles}
        self.takes = " or ".join(f"the {role} token" for role in sorted(self.allowed))

    def refusal(self, credentials: Credentials, token: str | None) -> tuple[int, str] | None:
        """None when ``token`` may make the call, else the status and message of the refusal."""
        held = credentials.roles_of(token)
        if not held:
            return 401, (
                f"this call changes state: send Authorization: Bearer <token>, {self.takes} "
                "(people: log in at /login)"
            )
        if not held & self.allowed:
            return 403, f"this call takes {self.takes}, not the {' or '.join(sorted(held))} token"
        return None
