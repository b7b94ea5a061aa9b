"""What the appliance keeps in its data directory is for its own user alone: directories 0700,
files 0600, whatever the umask of whoever started the program.

The modes are set where the files are made, not by a umask: a umask would also reach the build
commands the runners start. A directory or file that exists with a wider mode (made by an older
version) is narrowed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600


def private_directory(data_dir: Path, *parts: str) -> Path:
    """``data_dir/parts...``, each level from ``data_dir`` down mode 0700. The parents of
    ``data_dir`` are not the appliance's: missing ones get the usual mode."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    path = data_dir
    _make_private(path)
    for part in parts:
        path = path / part
        _make_private(path)
    return path


def _make_private(directory: Path) -> None:
    directory.mkdir(mode=PRIVATE_DIRECTORY, exist_ok=True)
    # mkdir's mode passes through the umask, and an existing directory keeps its own.
    if stat.S_IMODE(directory.stat().st_mode) != PRIVATE_DIRECTORY:
        directory.chmod(PRIVATE_DIRECTORY)


def private_file(path: Path) -> Path:
    """``path``, created empty if missing, mode 0600."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) != PRIVATE_FILE:
            os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
    return path
