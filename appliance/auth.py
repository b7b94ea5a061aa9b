"""The API token that state-changing calls must present.

Secure by default: with no token configured, a random one is generated once in the data
directory (mode 0600), so that a fresh appliance on a LAN never accepts anonymous changes. Programs
on the same machine read the same file; programs elsewhere are given it through their own config.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from appliance.config import Config


def token_file(config: Config) -> Path:
    return config.data_dir / "secrets" / "api-token"


def api_token(config: Config) -> str:
    """The configured token, else the generated one (created on first use)."""
    if config.auth.token is not None:
        return config.auth.token.reveal()
    path = token_file(config)
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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


def token_matches(expected: str, presented: str | None) -> bool:
    return presented is not None and hmac.compare_digest(expected.encode(), presented.encode())
