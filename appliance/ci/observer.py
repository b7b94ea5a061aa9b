"""The observer: notices new commits on the branches of ``[[ci.repos]]`` and queues a build for
each of them, oldest first, on the server.

Every new commit counts, not only the newest (the seed tested one commit per poll and skipped the
rest); at most ``commits_per_poll`` per repository and poll, the rest at the next poll. Its
position (the last commit seen) and its outbox (commits not yet accepted by the server) are one
JSON file per repository in the data directory, replaced atomically: a restart neither skips nor
repeats a commit, and a server that is away only delays the delivery (the server ignores a commit
it already has, so delivering twice after a crash is harmless).

A push webhook wakes it at once: it listens to the server's event stream (``/events?topic=
ci.hook``, Server-Sent Events), one connection that the server already keeps alive every 15 s,
rather than a second long-poll API. Polling continues regardless, so a missed hook only waits
for the next poll; after a reconnection every repository is looked at once. A burst of hooks
(a push of many branches, a script) is coalesced: a fetch waits ``HOOK_SETTLE`` after the latest
hook for more, but never longer than ``HOOK_MAX_WAIT`` after the first, so a burst costs one fetch
a second per repository and a single push 0.1 s; a hook that arrives during a fetch always leads
to one more.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import git

from appliance.ci.limits import COMMIT_TIMES, within
from appliance.ci.redact import redact
from appliance.ci.settings import CIRepoConfig
from appliance.client import Client, ServerUnavailable, server_backoff

log = logging.getLogger(__name__)

HOOK_STREAM = "/events?topic=ci.hook"
STREAM_TIMEOUT = 40.0  # the server sends a keep-alive every 15 s; silence this long means it is gone
MAX_MESSAGE = 4000
DELIVERY_BATCH = 500
HOOK_SETTLE = 0.1  # seconds a fetch waits after a hook for more of the same burst
HOOK_MAX_WAIT = 1.0  # seconds: a burst, however long, fetches a repository at least this often


@dataclass
class Position:
    last_seen: str | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)


class RepoWatch:
    """One repository: its bare mirror, its position and outbox, when it is due."""

    def __init__(self, spec: CIRepoConfig, directory: Path):
        self.spec = spec
        self.state_file = directory / f"{spec.name}.json"
        self.mirror = directory / f"{spec.name}.git"
        self.due = 0.0
        self.position = self._load()

    def _load(self) -> Position:
        try:
            raw = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return Position()
        return Position(last_seen=raw["last_seen"], pending=raw["pending"])

    def save(self) -> None:
        """Write to a temporary file, flush it to disk, rename: never half a position."""
        temporary = self.state_file.with_suffix(".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump({"last_seen": self.position.last_seen, "pending": self.position.pending}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.state_file)

    def poll(self, cap: int) -> int:
        """Fetch the branch; add the commits after the last one seen (first parents, oldest first,
        at most ``cap``) to the outbox. Returns how many."""
        repo = self._fetch()
        try:
            head = repo.commit(f"refs/heads/{self.spec.branch}").hexsha
            last = self.position.last_seen
            if last == head:
                return 0
            shas = [head] if last is None else self._since(repo, last, head)
            new = [_describe(repo.commit(sha)) for sha in shas[:cap]]
        finally:
            repo.close()
        self.position.pending.extend(new)
        self.position.last_seen = new[-1]["sha"]
        self.save()
        return len(new)

    def _since(self, repo: git.Repo, last: str, head: str) -> list[str]:
        try:
            return repo.git.rev_list("--first-parent", "--reverse", f"{last}..{head}").split()
        except git.GitCommandError:
            # The last commit seen is gone (history rewritten and pruned): start again at the head.
            log.warning(
                "%s: commit %s is no longer in the repository; building the head", self.spec.name, last
            )
            return [head]

    def _fetch(self) -> git.Repo:
        exists = (self.mirror / "HEAD").exists()
        repo = git.Repo(self.mirror) if exists else git.Repo.init(self.mirror, bare=True)
        branch = self.spec.branch
        try:
            if "origin" not in [remote.name for remote in repo.remotes]:
                repo.create_remote("origin", self.spec.url)
            elif repo.remote("origin").url != self.spec.url:
                repo.remote("origin").set_url(self.spec.url)
            with repo.git.custom_environment(GIT_TERMINAL_PROMPT="0"):
                refspec = f"+refs/heads/{branch}:refs/heads/{branch}"
                repo.git.fetch("--quiet", "origin", refspec, kill_after_timeout=300)
        except BaseException:
            repo.close()
            raise
        return repo


def _describe(commit: git.Commit) -> dict[str, Any]:
    """A commit as the server takes it. Whatever git holds must fit, or the server would refuse
    the whole batch at every try: text becomes valid UTF-8, a date out of range is left out."""
    when = commit.committed_date
    return {
        "sha": commit.hexsha,
        "author": _unicode(f"{commit.author.name} <{commit.author.email}>")[:MAX_MESSAGE],
        "message": _unicode(commit.message).strip()[:MAX_MESSAGE],
        "committed_at": when if within(when, COMMIT_TIMES) else None,
    }


def _unicode(text: str | bytes) -> str:
    """``text`` as valid Unicode: GitPython leaves a message it could not decode as bytes, and a
    commit's ``encoding`` header can produce lone surrogates, which no UTF-8 column can hold."""
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    return text.encode("utf-8", "replace").decode("utf-8")


class Observer:
    def __init__(
        self,
        repos: list[CIRepoConfig],
        directory: Path,
        client: Client,
        commits_per_poll: int,
        stop_event: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        directory.mkdir(parents=True, exist_ok=True)
        self.watches = {spec.name: RepoWatch(spec, directory) for spec in repos}
        self.client = client
        self.commits_per_poll = commits_per_poll
        self.stop_event = stop_event or threading.Event()
        self.clock = clock
        self._wake = threading.Event()
        self._woken: set[str] = set()
        self._woken_lock = threading.Lock()
        self._first_hook: dict[str, float] = {}  # per repository, the first hook not fetched yet
        self._hook_due: dict[str, float] = {}  # per repository, when its hooks are fetched

    def wake(self, names: set[str] | None = None) -> None:
        """Look at these repositories (all when None) soon: see ``HOOK_SETTLE``."""
        with self._woken_lock:
            self._woken |= set(self.watches) if names is None else names & set(self.watches)
        self._wake.set()

    def stop(self) -> None:
        self.stop_event.set()
        self._wake.set()

    def run(self) -> None:
        threading.Thread(target=self._listen_for_hooks, name="hooks", daemon=True).start()
        backoff = server_backoff()
        while not self.stop_event.is_set():
            self._wake.clear()
            self.poll_due()
            delivered = self.deliver()
            if delivered:
                backoff.reset()
            following = min(map(self._next_look, self.watches)) - self.clock() if self.watches else None
            if not delivered:
                retry = backoff.next_delay()
                following = retry if following is None else min(following, retry)
            self._wake.wait(None if following is None else max(0.0, following))

    def poll_due(self) -> None:
        with self._woken_lock:
            woken, self._woken = self._woken, set()
        for name, watch in self.watches.items():
            now = self.clock()
            if name in woken:
                first = self._first_hook.setdefault(name, now)
                self._hook_due[name] = min(now + HOOK_SETTLE, first + HOOK_MAX_WAIT)
            if self._next_look(name) > now:
                continue
            # Hooks that come from here on may be of pushes this fetch misses: they count afresh.
            self._first_hook.pop(name, None)
            self._hook_due.pop(name, None)
            watch.due = now + watch.spec.poll_seconds
            try:
                found = watch.poll(self.commits_per_poll)
            except (git.GitCommandError, ValueError, OSError) as exc:
                log.warning("%s: cannot read %s: %s", name, redact(watch.spec.url), redact(str(exc).strip()))
                continue
            if found:
                log.info("%s: %d new commit(s)", name, found)

    def _next_look(self, name: str) -> float:
        return min(self.watches[name].due, self._hook_due.get(name, float("inf")))

    def deliver(self) -> bool:
        """Send every outbox to the server; False when something is still waiting."""
        all_sent = True
        for watch in self.watches.values():
            while watch.position.pending:
                batch = watch.position.pending[:DELIVERY_BATCH]
                try:
                    # Only the name: the server's configuration says what the repository runs.
                    answer = self.client.call(
                        "POST", "/api/ci/commits", {"repo": watch.spec.name, "commits": batch}
                    )
                except ServerUnavailable as exc:
                    log.info("%s: %d commit(s) wait for the server: %s", watch.spec.name, len(batch), exc)
                    return False
                if answer.status != 200:
                    log.error("%s: the server refuses the commits: %s", watch.spec.name, answer.error)
                    all_sent = False
                    break
                del watch.position.pending[: len(batch)]
                watch.save()
        return all_sent

    def _listen_for_hooks(self) -> None:
        backoff = server_backoff(maximum=10.0)
        while not self.stop_event.is_set():
            try:
                with self.client.stream(HOOK_STREAM, timeout=STREAM_TIMEOUT) as hooks:
                    backoff.reset()
                    self.wake()  # hooks may have come while we were not listening
                    for event, data in hooks:
                        if event == "ci.hook":
                            self.wake({json.loads(data)["repo"]})
            except (ServerUnavailable, ValueError) as exc:
                log.debug("webhook stream: %s", exc)
            if backoff.wait(self.stop_event):
                return
