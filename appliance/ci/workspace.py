"""A runner's disk: one bare mirror per repository (fetched only when a commit is missing), and
per build slot a git worktree that is made clean for every build, as GitLab's fetch strategy does:
a forced checkout of the commit (every tracked file as committed) and ``git clean -ffdx`` (every
untracked and ignored file gone: bytecode, build output, what the last build left). Nothing of one
build reaches the next, and only the files that differ between two commits are written, which on
an SD card is the difference between milliseconds and seconds for a large repository.

    <work_dir>/mirrors/<repo>.git          git clone --mirror
    <work_dir>/checkouts/<repo>-<slot>/    the worktree a build runs in
    <work_dir>/builds/<build>-<attempt>/   its log and the pid of its process group, and the
                                           build's HOME and TMPDIR (home/, tmp/)

With a build user (``[ci] build_user``) what a build may write is the build user's, in a directory
of its own (``build_root``: ``<its home>/runners/<runner>``), and the runner's stays out of its
reach (the mirrors, with the URLs they were fetched from, and the logs):

    <build_root>/checkouts/<repo>-<slot>/  a repository of the build user's own; the runner pushes
                                           the commit from the mirror into it (git runs the
                                           receiving end as the build user), which checks it out
    <build_root>/builds/<build>-<attempt>/ the build's HOME and TMPDIR

Every command on those is run as the build user (``appliance.ci.build_user``): it owns whatever a
build left, which only it can remove.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from pathlib import Path

from appliance.ci.build_user import BuildUser, BuildUserError
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
    def __init__(self, root: Path, build_user: BuildUser | None = None, build_root: Path | None = None):
        self.root = root
        self.mirrors = root / "mirrors"
        self.builds = root / "builds"
        self.build_user = build_user
        if build_user is not None and build_root is None:
            raise ValueError("a build user needs a build_root of its own")
        outside = build_root if build_user is not None else root
        self.checkouts = outside / "checkouts"
        self.scratches = outside / "builds"
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def _lock(self, repo: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(repo, threading.Lock())

    def build_dir(self, build: int, attempt: int) -> Path:
        return self.builds / f"{build}-{attempt}"

    def scratch(self, build: int, attempt: int) -> Path:
        """The build's directory for its HOME (``home/``) and TMPDIR (``tmp/``), made empty."""
        scratch = self.scratches / f"{build}-{attempt}"
        if self.build_user is not None:
            self.build_user.remove(scratch)
            self.build_user.make_directories(scratch / "home", scratch / "tmp")
        else:
            for directory in (scratch / "home", scratch / "tmp"):
                directory.mkdir(parents=True, exist_ok=True)
        return scratch

    def clean_leftovers(self) -> None:
        """At start: a runner that crashed may have left builds behind; stop their processes and
        remove their directories (the server gives their attempts to someone else)."""
        for directory in (self.mirrors, self.builds):
            directory.mkdir(parents=True, exist_ok=True)
        for directory in self.builds.iterdir():
            pgid_file = directory / "pgid"
            if pgid_file.is_file() and pgid_file.read_text().strip().isdigit():
                if kill_leftover_group(int(pgid_file.read_text()), self.checkouts, self.build_user):
                    log.warning("stopped the processes a crashed runner left behind (%s)", directory)
            shutil.rmtree(directory, ignore_errors=True)
        if self.build_user is not None:
            # Checkouts of the runner's own, from before it had a build user.
            shutil.rmtree(self.root / "checkouts", ignore_errors=True)
            self.build_user.remove(self.scratches)
            self.build_user.make_directories(self.checkouts, self.scratches)
        else:
            self.checkouts.mkdir(parents=True, exist_ok=True)

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
            if self.build_user is not None:
                return self._checkout_as_build_user(mirror, commit, target)
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

    def _checkout_as_build_user(self, mirror: Path, commit: str, target: Path) -> Path:
        """The build user's repository at ``target``, made clean at ``commit``: the runner pushes
        the commit into it (only the objects it lacks), the build user checks it out. Its
        configuration has no URL: nothing of the mirror's is in the build user's reach."""
        user = self.build_user
        environment = {**user.base_environment(target.parent), **GIT_ENV}
        receive_pack = " ".join([*user.sudo(), "git", "receive-pack"])
        for attempt in ("reuse", "anew"):
            try:
                if attempt == "anew":
                    user.remove(target)
                user.run(["git", "init", "--quiet", str(target)], target.parent, environment)
                git(
                    "push",
                    "--quiet",
                    "--force",
                    f"--receive-pack={receive_pack}",
                    str(target),
                    f"{commit}:refs/ci/build",
                    cwd=mirror,
                )
                checkout = ["checkout", "--force", "--detach", "--quiet", commit]
                for command in (checkout, ["clean", "-ffdxq"]):
                    user.run(["git", *command], target, environment, timeout=GIT_TIMEOUT)
                return target
            except (CheckoutError, BuildUserError) as exc:
                if attempt == "anew":
                    raise CheckoutError(redact(str(exc))) from None
                log.warning("%s cannot be reused, making it again: %s", target, exc)
        raise AssertionError("unreachable")

    @staticmethod
    def _has_commit(mirror: Path, commit: str) -> bool:
        try:
            git("cat-file", "-e", f"{commit}^{{commit}}", cwd=mirror)
        except CheckoutError:
            return False
        return True

    def discard(self, build: int, attempt: int) -> None:
        """Remove the build's directories (its log, HOME and TMPDIR)."""
        shutil.rmtree(self.build_dir(build, attempt), ignore_errors=True)
        scratch = self.scratches / f"{build}-{attempt}"
        if self.build_user is None:
            shutil.rmtree(scratch, ignore_errors=True)
            return
        try:
            self.build_user.remove(scratch)
        except BuildUserError as exc:
            log.warning("cannot remove %s: %s", scratch, exc)
