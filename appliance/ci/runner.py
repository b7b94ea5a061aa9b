"""The runner: pulls builds from the server, runs each in a clean checkout, streams its log,
reports its result. It is dumb on purpose (Buildbot's worker): it runs what it is told and says
what happened; the server owns the queue and decides what a lost runner's work becomes.

It outlives the server: when the server goes away a build keeps running, its log and result wait
on disk and in memory, and the runner comes back with back-off; it never exits mid-build for that.
A runner stopped by SIGTERM stops its builds and leaves them to the server to hand out again.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from appliance.ci.build_user import BuildUser
from appliance.ci.counts import junit_counts, junit_files, unittest_counts
from appliance.ci.environment import build_environment
from appliance.ci.process import Command, Limits, Outcome
from appliance.ci.workspace import CheckoutError, Workspace
from appliance.client import Answer, Client, ServerUnavailable, server_backoff

log = logging.getLogger(__name__)

LOG_CHUNK = 256 * 1024
LOG_BATCH_SECONDS = 0.1  # gather output this long before sending: fewer, larger appends
STOPPING = "runner stopping"


def default_command() -> list[str]:
    """The seed's test discovery, but in a subprocess with the runner's Python: a fresh
    interpreter per build, so an edited test module is really the one that runs."""
    return [sys.executable, "-m", "unittest", "discover", "-s", "tests", "-v"]


class LogShipper(threading.Thread):
    """Sends a build's log file to the server in chunks at the server's offset. A 409 says where
    the server is, and sending resumes from there (after a reconnect, a lost answer)."""

    def __init__(self, client: Client, build: int, attempt: int, path: Path, stop: threading.Event):
        super().__init__(name=f"log-{build}-{attempt}", daemon=True)
        self.client = client
        self.url = f"/api/ci/builds/{build}/attempts/{attempt}/log"
        self.path = path
        self.stop_event = stop
        self.sent = 0
        self.gone = False  # the server will never take this log (no such attempt)
        self._more = threading.Event()
        self._finishing = threading.Event()

    def notify(self) -> None:
        self._more.set()

    def finish(self) -> None:
        """Send what is left and end; returns once all is sent, or the runner stops."""
        self._finishing.set()
        self._more.set()
        self.join()

    def run(self) -> None:
        backoff = server_backoff()
        while not self.stop_event.is_set():
            self._more.wait()
            self._finishing.wait(LOG_BATCH_SECONDS)
            if self.stop_event.is_set():
                return
            self._more.clear()
            try:
                self._send_available()
                backoff.reset()
            except ServerUnavailable as exc:
                log.info("log of %s waits for the server: %s", self.url, exc)
                self._more.set()
                if backoff.wait(self.stop_event):
                    return
                continue
            if self.gone or (self._finishing.is_set() and self.sent >= self.path.stat().st_size):
                return

    def _send_available(self) -> None:
        with self.path.open("rb") as log_file:
            while not self.gone:
                log_file.seek(self.sent)
                data = log_file.read(LOG_CHUNK)
                if not data:
                    return
                answer = self.client.call("POST", f"{self.url}?offset={self.sent}", data=data)
                if answer.status == 200:
                    self.sent = answer.body["offset"]
                elif answer.status == 409 and isinstance(answer.body, dict) and "offset" in answer.body:
                    self.sent = answer.body["offset"]
                else:
                    log.warning("the server refuses the log of %s: %s", self.url, answer.error)
                    self.gone = True


class Job(threading.Thread):
    """One attempt of one build, from checkout to reported result."""

    def __init__(self, runner: Runner, work: dict[str, Any], slot: int):
        super().__init__(name=f"build-{work['build']}-{work['attempt']}", daemon=True)
        self.runner = runner
        self.work = work
        self.slot = slot
        self.key = (work["build"], work["attempt"])
        self.directory = runner.workspace.build_dir(*self.key)
        self.command: Command | None = None
        self._abort_reason: str | None = None
        self._lock = threading.Lock()

    def abort(self, reason: str) -> None:
        """Stop the build: the server cancelled it or gave it to another runner, or we stop."""
        with self._lock:
            self._abort_reason = self._abort_reason or reason
            if self.command is not None:
                self.command.stop(reason)

    def run(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        log_path = self.directory / "log"
        log_path.touch()
        shipper = LogShipper(self.runner.client, *self.key, log_path, self.runner.stop_event)
        shipper.start()
        try:
            with log_path.open("ab") as log_file:
                result = self._build(log_file, shipper)
        except Exception as exc:  # a fault of the runner, not of the build: say so, never hang
            log.exception("build %s attempt %s failed inside the runner", *self.key)
            result = {"status": "error", "reason": f"the runner failed: {exc!r}"[:2000]}
        try:
            shipper.finish()
            if self._abort_reason != STOPPING:
                self.runner.report(self.key, result)
        finally:
            self.runner.workspace.discard(*self.key)
            self.runner.job_done(self)

    def _note(self, log_file, shipper: LogShipper, text: str) -> None:
        log_file.write(f"[runner {self.runner.name}] {text}\n".encode())
        log_file.flush()
        shipper.notify()

    def _build(self, log_file, shipper: LogShipper) -> dict[str, Any]:
        work = self.work
        note = functools.partial(self._note, log_file, shipper)
        note(f"build {work['build']} attempt {work['attempt']}: {work['repo']['name']} {work['commit']}")
        if work["env_problems"]:
            for problem in work["env_problems"]:
                note(problem)
            return {"status": "error", "reason": "; ".join(work["env_problems"])[:2000]}
        started = time.monotonic()
        repo = work["repo"]
        try:
            source = self.runner.workspace.checkout(repo["name"], repo["url"], work["commit"], self.slot)
        except CheckoutError as exc:
            note(str(exc))
            return {"status": "error", "reason": f"checkout failed: {exc}"[:2000]}
        note(f"checked out in {time.monotonic() - started:.2f} s")
        argv = ["/bin/sh", "-c", work["command"]] if work["command"].strip() else default_command()
        note("$ " + (work["command"] or " ".join(argv)))
        limits = Limits(
            timeout_seconds=work["timeout_seconds"],
            silence_seconds=work["silence_seconds"],
            kill_grace_seconds=work["kill_grace_seconds"],
            max_log_bytes=max(0, work["max_log_bytes"] - log_file.tell() - 1024),
        )
        environment = build_environment(work, self.runner.workspace.scratch(*self.key))
        with self._lock:
            if self._abort_reason is not None:
                return {"status": "cancelled", "reason": self._abort_reason}
            self.command = Command(
                argv,
                source,
                environment,
                log_file,
                limits,
                shipper.notify,
                secrets=[*self.runner.secrets, *(work["env"][name] for name in work["secret_env"])],
                build_user=self.runner.workspace.build_user,
            )
        reports_before = junit_files(source)
        outcome = self.command.run(on_start=lambda pgid: (self.directory / "pgid").write_text(str(pgid)))
        if outcome.log_cut:
            note(f"output cut: the log reached max_log_bytes ({work['max_log_bytes']})")
        note(f"exit code {outcome.exit_code} after {outcome.seconds:.2f} s")
        return {
            **_verdict(outcome, limits),
            "exit_code": outcome.exit_code,
            "command_seconds": round(outcome.seconds, 3),
            "counts": junit_counts(source, reports_before) or unittest_counts(_tail(log_file.name)),
        }


def _verdict(outcome: Outcome, limits: Limits) -> dict[str, str]:
    if outcome.stopped_for == "timeout":
        return {"status": "timed_out", "reason": f"ran longer than {limits.timeout_seconds:g} s"}
    if outcome.stopped_for == "silence":
        return {"status": "timed_out", "reason": f"printed nothing for {limits.silence_seconds:g} s"}
    if outcome.stopped_for is not None:
        return {"status": "cancelled", "reason": outcome.stopped_for}
    return {"status": "passed" if outcome.exit_code == 0 else "failed"}


def _tail(path: str, size: int = 8192) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(max(0, os.path.getsize(path) - size))
        return handle.read()


class Runner:
    def __init__(
        self,
        client: Client,
        name: str,
        work_dir: Path,
        capacity: int = 1,
        labels: tuple[str, ...] = (),
        stop_event: threading.Event | None = None,
        secrets: Iterable[str] = (),
        build_user: BuildUser | None = None,
        build_root: Path | None = None,
    ):
        """``secrets``: values to mask in every build's log besides the runner's own token. Without
        a ``build_user`` a build runs as the runner's user, so it can read what the runner can: the
        files that secret references name, and the runner's environment in /proc. With one, it
        runs as that user, in ``build_root`` (``appliance.ci.workspace``)."""
        self.client = client
        self.name = name
        self.secrets = [secret for secret in (client.token, *secrets) if secret]
        self.capacity = capacity
        self.labels = list(labels)
        self.workspace = Workspace(work_dir, build_user, build_root)
        self.stop_event = stop_event or threading.Event()
        self.heartbeat_seconds = 20.0
        self.wait_seconds = 25.0
        self._jobs: dict[tuple[int, int], Job] = {}
        self._free_slots = list(range(capacity))
        self._jobs_changed = threading.Condition()
        self._registered = threading.Event()

    @property
    def _base(self) -> str:
        return f"/api/ci/runners/{self.name}"

    def run(self) -> None:
        """Work until ``stop_event`` is set; then stop the builds and return."""
        self.workspace.clean_leftovers()
        workers = [
            threading.Thread(target=self._pull_forever, name="pull", daemon=True),
            threading.Thread(target=self._heartbeat_forever, name="heartbeat", daemon=True),
        ]
        for worker in workers:
            worker.start()
        self.stop_event.wait()
        log.info("stopping: %d build(s) running are left to the server", len(self._jobs))
        with self._jobs_changed:
            jobs = list(self._jobs.values())
            self._jobs_changed.notify_all()
        for job in jobs:
            job.abort(STOPPING)
        for job in jobs:
            job.join(timeout=30)

    def _held(self) -> list[dict[str, int]]:
        with self._jobs_changed:
            return [{"build": build, "attempt": attempt} for build, attempt in self._jobs]

    def _register(self) -> None:
        backoff = server_backoff()
        while not self.stop_event.is_set():
            try:
                answer = self.client.call(
                    "POST",
                    f"{self._base}/register",
                    {"labels": self.labels, "capacity": self.capacity, "builds": self._held()},
                )
            except ServerUnavailable as exc:
                log.info("waiting for the server: %s", exc)
                backoff.wait(self.stop_event)
                continue
            if answer.status == 200:
                self.heartbeat_seconds = answer.body["heartbeat_seconds"]
                self.wait_seconds = answer.body["wait_seconds"]
                self._registered.set()
                log.info("registered as %s with %s", self.name, self.client.base_url)
                return
            log.error("the server refuses to register %s: %s", self.name, answer.error)
            backoff.wait(self.stop_event)

    def _pull_forever(self) -> None:
        backoff = server_backoff()
        self._register()
        while not self.stop_event.is_set():
            with self._jobs_changed:
                while len(self._jobs) >= self.capacity and not self.stop_event.is_set():
                    self._jobs_changed.wait()
            if self.stop_event.is_set():
                return
            try:
                answer = self.client.call(
                    "POST", f"{self._base}/next?wait={self.wait_seconds}", timeout=self.wait_seconds + 15
                )
            except ServerUnavailable as exc:
                log.info("cannot ask for work: %s", exc)
                backoff.wait(self.stop_event)
                continue
            backoff.reset()
            if answer.status == 200:
                self._start(answer.body)
            elif answer.status == 404:  # the server forgot us (a new database): register again
                self._register()
            elif answer.status != 204:
                log.error("asking for work: %s", answer.error)
                backoff.wait(self.stop_event)

    def _start(self, work: dict[str, Any]) -> None:
        with self._jobs_changed:
            job = Job(self, work, self._free_slots.pop(0))
            self._jobs[job.key] = job
        log.info("build %s attempt %s: %s %s", *job.key, work["repo"]["name"], work["commit"][:12])
        job.start()

    def job_done(self, job: Job) -> None:
        with self._jobs_changed:
            self._jobs.pop(job.key, None)
            self._free_slots.append(job.slot)
            self._jobs_changed.notify_all()

    def _heartbeat_forever(self) -> None:
        self._registered.wait()
        while not self.stop_event.wait(self.heartbeat_seconds):
            try:
                answer = self.client.call("POST", f"{self._base}/heartbeat", {"builds": self._held()})
            except ServerUnavailable as exc:
                log.info("heartbeat missed: %s", exc)
                continue
            if answer.status == 404:
                self._register()
            elif answer.status == 200:
                self._act_on(answer)

    def _act_on(self, answer: Answer) -> None:
        for item in answer.body["builds"]:
            if item["action"] == "continue":
                continue
            with self._jobs_changed:
                job = self._jobs.get((item["build"], item["attempt"]))
            if job is not None:
                log.info("build %s attempt %s: %s by the server", *job.key, item["action"])
                job.abort("cancelled" if item["action"] == "cancel" else "lease lost")

    def report(self, key: tuple[int, int], result: dict[str, Any]) -> None:
        """Deliver a result, however long the server is away (the lease is renewed meanwhile)."""
        backoff = server_backoff()
        body = {"runner": self.name, **result}
        while not self.stop_event.is_set():
            try:
                answer = self.client.call("POST", "/api/ci/builds/{}/attempts/{}/result".format(*key), body)
            except ServerUnavailable as exc:
                log.info("result of build %s attempt %s waits for the server: %s", *key, exc)
                backoff.wait(self.stop_event)
                continue
            if answer.status != 200:
                log.warning("result of build %s attempt %s refused: %s", *key, answer.error)
            return
