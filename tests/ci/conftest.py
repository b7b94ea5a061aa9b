"""Fixtures of the CI tests: a client of the Flask app with a CI configuration (``ci_app``, in
tests/conftest.py), and a real server with its runners and observers as subprocesses."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import APPLIANCE, http_json, wait_until


@pytest.fixture
def ci_client(ci_app):
    return ci_app.test_client()


@pytest.fixture
def auth(ci_app):
    return admin_auth(ci_app)


def admin_auth(application) -> dict[str, str]:
    return {"Authorization": "Bearer " + application.extensions["appliance"].credentials.tokens["admin"]}


def commits_body(*shas, repo="app"):
    """What the observer sends: a configured repository's name, never what it runs."""
    return {
        "repo": repo,
        "commits": [{"sha": sha * 40, "author": "Ada", "message": f"commit {sha}"} for sha in shas],
    }


# --- real processes ---------------------------------------------------------------------------

FINISHED = ("passed", "failed", "error", "cancelled", "timed_out")


def toml_value(value):
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def ci_config(repos, **settings):
    lines = ["", "[ci]", *(f"{key} = {toml_value(value)}" for key, value in settings.items())]
    for repo in repos:
        lines += ["", "[[ci.repos]]", *(f"{key} = {toml_value(value)}" for key, value in repo.items())]
    return "\n".join(lines) + "\n"


class CI:
    """A running server plus the runners and observers started against it."""

    def __init__(self, server, directory: Path):
        self.server = server
        self.directory = directory
        self.processes: list[subprocess.Popen] = []

    @property
    def token(self) -> str:
        return (self.server.data_dir / "secrets" / "api-token").read_text().strip()

    def start(self, *args: str) -> subprocess.Popen:
        log_path = self.directory / f"{'-'.join(args)}.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [APPLIANCE, *args, "--config", str(self.server.config_file)], stdout=log, stderr=log
            )
        self.processes.append(process)
        return process

    def runner(self, name: str) -> subprocess.Popen:
        return self.start("runner", "--name", name)

    def observer(self) -> subprocess.Popen:
        return self.start("observer")

    def api(self, path: str, method: str = "GET", body: object = None):
        return http_json(self.server.url + path, method, body, {"Authorization": f"Bearer {self.token}"})

    def builds(self) -> list[dict]:
        status, body = self.api("/api/ci/builds?limit=1000")
        assert status == 200, body
        return body["builds"][::-1]

    def build(self, build_id: int) -> dict:
        return self.api(f"/api/ci/builds/{build_id}")[1]

    def log(self, build_id: int, attempt: int | None = None) -> bytes:
        query = f"?attempt={attempt}" if attempt else ""
        with urllib.request.urlopen(
            f"{self.server.url}/api/ci/builds/{build_id}/log{query}", timeout=10
        ) as response:
            return response.read()

    def finished(self, count: int) -> list[dict] | None:
        builds = self.builds()
        done = [b for b in builds if b["status"] in FINISHED]
        return builds if len(builds) >= count and len(done) == len(builds) else None

    def wait_finished(self, count: int, timeout: float = 60) -> list[dict]:
        return wait_until(lambda: self.finished(count), timeout=timeout, what=f"{count} finished builds")

    def running_with_output(self, text: bytes) -> dict | None:
        for build in self.builds():
            if build["status"] == "running" and text in self.log(build["id"]):
                return build
        return None

    def queue(self, repo: dict, shas: list[str]) -> None:
        body = {
            "repo": repo["name"],
            "commits": [{"sha": sha, "author": "Ada", "message": f"commit {sha[:8]}"} for sha in shas],
        }
        assert self.api("/api/ci/commits", "POST", body)[0] == 200

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def start_ci(start_server, tmp_path):
    made: list[CI] = []

    def start(repos: list[dict], **settings) -> CI:
        server = start_server(ci_config(repos, **settings))
        ci = CI(server, tmp_path)
        made.append(ci)
        return ci

    yield start
    for ci in made:
        ci.stop()
