"""Builds as a user of their own (``[ci] build_user``): a build runs untrusted code, and the
runner's user holds the runner's token and may read the appliance's configuration; the same uid
could also read the runner's memory. So the runner starts everything a build does, and everything
it does to a build's files and processes, through ``sudo -n -u <build_user>``, which the ci role
allows the appliance's user for that one user alone.

The environment never travels as arguments (anyone may read a process's arguments) nor through
sudo's environment handling (its ``secure_path`` and ``env_delete`` would change ``PATH``,
``PYTHONPATH``, ...): a few lines of Python, run by the system's interpreter as the build user,
read it as JSON from standard input, which they then point at /dev/null, change into the working
directory given as their first argument, and exec the command with exactly that environment. sudo
without a terminal (use_pty applies only in one) keeps the command in its own process group, and
the group is signalled as the build user, the only user besides root that may signal a build.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Run as the build user with `python -I -c EXEC_WITH_ENVIRONMENT <cwd> <argv...>`.
EXEC_WITH_ENVIRONMENT = (
    "import json, os, sys\n"
    "env = json.load(sys.stdin)\n"
    "os.dup2(os.open(os.devnull, os.O_RDONLY), 0)\n"
    "os.chdir(sys.argv[1])\n"
    "os.execvpe(sys.argv[2], sys.argv[2:], env)\n"
)
# `... -c SIGNAL_GROUP <pgid> <signal>`: a group that is gone is no error. (No kill(1): procps
# is not on every system, and dash's builtin takes no -s with a group.)
SIGNAL_GROUP = (
    "import os, sys\n"
    "try:\n"
    "    os.killpg(int(sys.argv[1]), int(sys.argv[2]))\n"
    "except (ProcessLookupError, PermissionError):\n"
    "    pass\n"
)
SUDO_TIMEOUT = 60.0
GIT_TIMEOUT = 600.0


def system_python() -> str:
    """An interpreter any user can run: a virtual environment's may live where the build user
    cannot reach it (only the standard library is used)."""
    return "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


class BuildUserError(Exception):
    """sudo or a command run through it failed; the message says what it said."""


class BuildUser:
    def __init__(self, name: str, python: str | None = None):
        self.name = name
        self.python = python or system_python()

    def sudo(self) -> list[str]:
        return ["sudo", "-n", "-u", self.name, "--"]

    def argv(self, argv: list[str], cwd: Path) -> list[str]:
        """The argv that runs ``argv`` as the build user in ``cwd``, with the environment that is
        written to its standard input (:meth:`environment_input`)."""
        return [*self.sudo(), self.python, "-I", "-c", EXEC_WITH_ENVIRONMENT, str(cwd), *argv]

    @staticmethod
    def environment_input(env: dict[str, str]) -> bytes:
        return json.dumps(env).encode()

    @staticmethod
    def cwd_of(cmdline: list[str]) -> Path | None:
        """The working directory given in the arguments of a process started by :meth:`argv`."""
        try:
            return Path(cmdline[cmdline.index(EXEC_WITH_ENVIRONMENT) + 1])
        except (ValueError, IndexError):
            return None

    def run(self, argv: list[str], cwd: Path, env: dict[str, str], timeout: float = SUDO_TIMEOUT) -> str:
        """Run a short command of the runner's own (git, mkdir, rm) as the build user; its output,
        or BuildUserError. ``env`` holds no secret: it is given as arguments to env(1), which is
        quicker than a Python started for it (on a Pi Zero, by a second or so)."""
        pairs = [f"{name}={value}" for name, value in env.items()]
        try:
            result = subprocess.run(
                [*self.sudo(), "env", "-i", "-C", str(cwd), *pairs, *argv],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                cwd="/",
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise BuildUserError(f"{argv[0]} as {self.name} took longer than {timeout:.0f} s") from None
        if result.returncode != 0:
            said = result.stderr.decode(errors="replace").strip()[-2000:]
            raise BuildUserError(f"{' '.join(argv[:2])} as {self.name} failed: {said}")
        return result.stdout.decode(errors="replace")

    def base_environment(self, home: Path) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        }

    def make_directories(self, *paths: Path) -> None:
        self.run(["mkdir", "-p", "--", *map(str, paths)], Path("/"), self.base_environment(Path("/")))

    def remove(self, *paths: Path) -> None:
        """Remove what the build user made (a build's files are its own: the runner could not),
        also a directory a build made unwritable (it ran as the build user: a symbolic link
        followed reaches only what the build user could change anyway)."""
        script = 'chmod -R u+rwx -- "$@" 2>/dev/null; rm -rf -- "$@"'
        self.run(["sh", "-c", script, "sh", *map(str, paths)], Path("/"), self.base_environment(Path("/")))

    def signal_group(self, pgid: int, signum: int) -> None:
        """Signal the group as the build user; a group that is gone is no error."""
        subprocess.run(
            [*self.sudo(), self.python, "-I", "-c", SIGNAL_GROUP, str(pgid), str(int(signum))],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            cwd="/",
            timeout=SUDO_TIMEOUT,
        )
