"""A runner's disk: one bare mirror per repository (fetched only when a commit is missing), and
per build slot a git worktree that is made clean for every build, as GitLab's fetch strategy does:
a forced checkout of the commit (every tracked file as committed) and ``git clean -ffdx`` (every
untracked and ignored file gone: bytecode, build output, what the last build left). Nothing of one
build reaches the next, and only the files that differ between two commits are written, which on
an SD card is the difference between milliseconds and seconds for a large repository.

    <work_dir>/mirrors/<repo>.git          git clone --mirror
    <work_dir>/checkouts/<repo>-<slot>/    the worktree a build runs in
    <work_dir>/builds/<build>-<attempt>/   its log and the pid of its process group
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from pathlib import Path

from appliance.ci.process import kill_leftover_group
from appliance.ci.redact import redact

log = logging.getLogger(__name__)

GIT_TIMEOUT = 600.0
# Never ask a person for a password, never read the user's git configuration for hooks/aliases.
GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_ASKPASS": "true"}


class CheckoutError(Exception):
    """The commit could not be checked out; the message says what git said, with no password of a
    URL in it, since it becomes the build's reason, shown to everyone."""


def git(*args: str, cwd: Path | None = None) -> str:
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            errors="replace",
            env={**os.environ, **GIT_ENV},
            timeout=GIT_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise CheckoutError(f"git {args[0]} took longer than {GIT_TIMEOUT:.0f} s") from None
    if result.returncode != 0:
        raise CheckoutError(f"git {' '.join(args[:2])} failed: {redact(result.stderr.strip()[-2000:])}")
    return result.stdout


class Workspace:
    def __init__(self, root: Path):
        self.root = root
        self.mirrors = root / "mirrors"
        self.checkouts = root / "checkouts"
        self.builds = root / "builds"
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def _lock(self, repo: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(repo, threading.Lock())

    def build_dir(self, build: int, attempt: int) -> Path:
        return self.builds / f"{build}-{attempt}"

    def clean_leftovers(self) -> None:
        """At start: a runner that crashed may have left builds behind; stop their processes and
        remove their directories (the server gives their attempts to someone else)."""
        for directory in (self.mirrors, self.checkouts, self.builds):
            directory.mkdir(parents=True, exist_ok=True)
        for directory in self.builds.iterdir():
            pgid_file = directory / "pgid"
            if pgid_file.is_file() and pgid_file.read_text().strip().isdigit():
                if kill_leftover_group(int(pgid_file.read_text()), self.checkouts):
                    log.warning("stopped the processes a crashed runner left behind (%s)", directory)
            shutil.rmtree(directory, ignore_errors=True)

    def checkout(self, repo: str, url: str, commit: str, slot: int) -> Path:
        """The slot's worktree, clean, at ``commit``; the mirror is fetched only if needed."""
        mirror = self.mirrors / f"{repo}.git"
        target = self.checkouts / f"{repo}-{slot}"
        with self._lock(repo):
            if not (mirror / "HEAD").exists():
                partial = mirror.with_name(mirror.name + ".partial")
                shutil.rmtree(partial, ignore_errors=True)
                git("clone", "--mirror", "--quiet", "--", url, str(partial))
                partial.rename(mirror)
            elif not self._has_commit(mirror, commit):
                git("remote", "set-url", "origin", url, cwd=mirror)
                git("fetch", "--prune", "--quiet", "origin", cwd=mirror)
            if not self._has_commit(mirror, commit):
                raise CheckoutError(f"commit {commit} is not in {redact(url)}")
            if (target / ".git").is_file():
                try:
                    git("checkout", "--force", "--detach", "--quiet", commit, cwd=target)
                    git("clean", "-ffdxq", cwd=target)
                    return target
                except CheckoutError as exc:
                    log.warning("%s cannot be reused, making it again: %s", target, exc)
            shutil.rmtree(target, ignore_errors=True)
            git("worktree", "prune", cwd=mirror)
            git("worktree", "add", "--detach", "--force", "--quiet", str(target), commit, cwd=mirror)
        return target

    @staticmethod
    def _has_commit(mirror: Path, commit: str) -> bool:
        try:
            git("cat-file", "-e", f"{commit}^{{commit}}", cwd=mirror)
        except CheckoutError:
            return False
        return True

    def discard(self, build_dir: Path) -> None:
        shutil.rmtree(build_dir, ignore_errors=True)
