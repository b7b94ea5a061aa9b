"""``appliance passwd``'s work: the password's hash written into ``[auth] password_hash`` of the
configuration file, in place. Only that line changes (comments and the rest stay as they are), the
result must load as the configuration with the new hash before it replaces the file, and it
replaces it atomically with the file's mode and owner: on any failure the file is untouched."""

from __future__ import annotations

import os
import re
from pathlib import Path

from appliance.config import ConfigError, load_file

AUTH_HEADER = re.compile(r"\s*\[\s*auth\s*\]\s*(#.*)?")
TABLE_HEADER = re.compile(r"\s*\[")
PASSWORD_HASH_KEY = re.compile(r"\s*password_hash\s*=")


def password_hash_line(password_hash: str) -> str:
    return f'password_hash = "{password_hash}"'  # a hash holds no quote or backslash


def with_password_hash(text: str, password_hash: str) -> str:
    """``text`` (TOML) with ``password_hash`` set in its ``[auth]`` table, made if missing."""
    line = password_hash_line(password_hash) + "\n"
    lines = text.splitlines(keepends=True)
    header = next((i for i, each in enumerate(lines) if AUTH_HEADER.fullmatch(each.rstrip("\r\n"))), None)
    if header is None:
        separator = "" if not text or text.endswith("\n") else "\n"
        return f"{text}{separator}\n[auth]\n{line}"
    end = next((i for i in range(header + 1, len(lines)) if TABLE_HEADER.match(lines[i])), len(lines))
    for i in range(header + 1, end):
        if PASSWORD_HASH_KEY.match(lines[i]):
            lines[i] = line
            return "".join(lines)
    lines.insert(header + 1, line)
    return "".join(lines)


def write_password_hash(path: Path, password_hash: str) -> None:
    """Set the hash in the configuration file ``path``; ConfigError, with the file as it was, when
    the result would not load as a configuration holding this hash."""
    original = path.stat()
    changed = with_password_hash(path.read_text(encoding="utf-8"), password_hash)
    temporary = path.with_name(f".{path.name}.passwd-{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, original.st_mode & 0o7777)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            if os.geteuid() == 0:  # root:appliance 0640 on a Pi stays so
                os.fchown(handle.fileno(), original.st_uid, original.st_gid)
            handle.write(changed)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            loaded = load_file(temporary)
        except ConfigError as exc:
            raise ConfigError(
                f"{path}: left unchanged, since with the new line it would not load: "
                + str(exc).replace(str(temporary), str(path))
            ) from None
        if loaded.auth.password_hash != password_hash:
            raise ConfigError(f"{path}: left unchanged: no [auth] table could be found to set the key in")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
