"""Shared fixtures: real daemons on temporary sockets and ports, real git repositories.

Each fixture starts the real program (supervisord, lircd, git, ``appliance server``) the way a
user's machine runs it, on paths inside the test's temporary directory, and stops it afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appliance.config import Config, ServerConfig
from appliance.lamp.nec import decode_nec
from appliance.supervisor import Supervisor, SupervisorUnavailable
from appliance.web import Server

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
APPLIANCE = str(VENV_BIN / "appliance")


def wait_until(
    condition: Callable[[], object], timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> object:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what or condition}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(
    url: str, method: str = "GET", body: object = None, headers: dict | None = None, timeout: float = 10
):
    """(status, parsed JSON body) for a request; HTTP errors are answers here, not exceptions."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def write_config(path: Path, data_dir: Path, port: int, extra: str = "") -> Path:
    path.write_text(f'data_dir = "{data_dir}"\n\n[server]\nport = {port}\n{extra}', encoding="utf-8")
    return path


# --- the server in this process, and raw HTTP to it ------------------------------------------


@pytest.fixture
def in_process_server(tmp_path):
    running = []

    def start(config: Config | None = None, **server_settings) -> tuple[Server, int]:
        """``appliance server`` in a thread: the whole server as it runs, with its parts in reach."""
        port = free_port()
        config = config or Config(data_dir=tmp_path / "data")
        config = config.replace(server=ServerConfig(port=port, **server_settings))
        server = Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        running.append((server, thread))
        wait_until(lambda: server.started, what="the server to listen")
        return server, port

    yield start
    for server, thread in running:
        server.stop()
        thread.join(timeout=15)
        assert not thread.is_alive()


def raw_request(port: int, head: str, body: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head.encode("latin-1") + body)
    return sock


def read_head(sock: socket.socket) -> tuple[int, bytes]:
    """The status of an answer and what of its body came with the head."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before the answer's head: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), rest


def open_stream(port: int, path: str = "/events", headers: str = "") -> socket.socket:
    """An open event stream, its answer's head read and nothing more: the events that may come
    in the same packet are left in the socket for the test to read."""
    sock = raw_request(port, f"GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n")
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        assert byte, f"connection closed before the answer's head: {head!r}"
        head += byte
    assert head.startswith(b"HTTP/1.1 200"), head
    return sock


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(65536)
        assert chunk, f"stream closed before {marker!r}: {data!r}"
        data += chunk
    return data


def reset(sock: socket.socket) -> None:
    """Close as a crashed client does: RST, no goodbye."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def json_answer(sock: socket.socket) -> tuple[int, dict]:
    status, rest = read_head(sock)
    while True:
        try:
            return status, json.loads(rest)
        except ValueError:
            chunk = sock.recv(65536)
            assert chunk, f"answer ended without a JSON body: {rest!r}"
            rest += chunk


# --- supervisord ------------------------------------------------------------------------------


@dataclass
class SupervisorDaemon:
    directory: Path
    process: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        return self.directory / "supervisor.sock"

    @property
    def include_dir(self) -> Path:
        return self.directory / "conf.d"

    @property
    def client(self) -> Supervisor:
        return Supervisor(self.socket)

    def start(self) -> None:
        self.include_dir.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "supervisord.conf"
        conf.write_text(
            f"""\
[unix_http_server]
file = {self.socket}
chmod = 0700

[supervisord]
nodaemon = true
logfile = {self.directory}/supervisord.log
pidfile = {self.directory}/supervisord.pid
childlogdir = {self.directory}

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[include]
files = {self.include_dir}/*.conf
""",
            encoding="utf-8",
        )
        self.process = subprocess.Popen(
            [str(VENV_BIN / "supervisord"), "--nodaemon", "--configuration", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._answers, what=f"supervisord on {self.socket}")

    def _answers(self) -> bool:
        try:
            self.client.processes()
        except SupervisorUnavailable:
            return False
        return True

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)


@pytest.fixture
def supervisord(tmp_path: Path) -> Iterator[SupervisorDaemon]:
    """A real supervisord on a temporary unix socket; programs go in ``include_dir``."""
    daemon = SupervisorDaemon(tmp_path / "supervisor")
    daemon.start()
    yield daemon
    daemon.stop()


# --- lircd ------------------------------------------------------------------------------------


@dataclass
class LircDaemon:
    """lircd with Debian's ``file`` driver: every frame it sends is written as pulse/space lines."""

    directory: Path
    config: Path = ROOT / "lircd.conf"
    process: subprocess.Popen | None = None

    @property
    def socket(self) -> Path:
        return self.directory / "lircd.sock"

    @property
    def frames_file(self) -> Path:
        return self.directory / "frames"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                "lircd", "--nodaemon", "--driver=file", f"--device={self.frames_file}",
                f"--output={self.socket}", f"--pidfile={self.directory / 'lircd.pid'}",
                f"--logfile={self.directory / 'lircd.log'}", str(self.config),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self.socket.exists, what=f"lircd socket {self.socket}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.socket.unlink(missing_ok=True)

    def irsend(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["irsend", f"--device={self.socket}", *args], capture_output=True, text=True, timeout=10
        )

    def codes(self) -> list[int]:
        """The 32-bit NEC codes of every frame sent so far, decoded from the recorded timings."""
        if not self.frames_file.exists():
            return []
        return decode_nec(self.frames_file.read_text())


@pytest.fixture
def lircd(tmp_path: Path) -> Iterator[LircDaemon]:
    """A real lircd loaded with the project's ``lircd.conf``, recording frames to a file."""
    if shutil.which("lircd") is None:
        pytest.fail("lircd is not installed: `make test` installs Debian's lirc package")
    daemon = LircDaemon(tmp_path / "lirc")
    daemon.start()
    yield daemon
    daemon.stop()


# --- git --------------------------------------------------------------------------------------


@dataclass
class GitRepo:
    path: Path
    commits: list[str] = field(default_factory=list)

    def git(self, *args: str) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Ada Tester", "GIT_AUTHOR_EMAIL": "ada@example.org",
            "GIT_COMMITTER_NAME": "Ada Tester", "GIT_COMMITTER_EMAIL": "ada@example.org",
            "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
        }  # fmt: skip
        result = subprocess.run(
            ["git", "-C", str(self.path), *args], capture_output=True, text=True, env=env, check=True
        )
        return result.stdout.strip()

    def commit(self, files: dict[str, str], message: str) -> str:
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        self.git("add", "--all")
        self.git("commit", "--quiet", "-m", message)
        sha = self.git("rev-parse", "HEAD")
        self.commits.append(sha)
        return sha


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    """A real git repository on branch main with one commit holding a passing test."""
    repo = GitRepo(tmp_path / "repo")
    repo.path.mkdir()
    repo.git("init", "--quiet", "--initial-branch=main")
    repo.commit(
        {"tests/test_pass.py": "import unittest\n\n\nclass T(unittest.TestCase):\n    def test_ok(self):\n"
         "        self.assertTrue(True)\n"},
        "Add a passing test",
    )  # fmt: skip
    return repo


# --- appliance server -------------------------------------------------------------------------


@dataclass
class ApplianceServer:
    directory: Path
    port: int = field(default_factory=free_port)
    extra_config: str = ""
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def config_file(self) -> Path:
        return self.directory / "appliance.toml"

    @property
    def log_file(self) -> Path:
        return self.directory / "server.log"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_config(self.config_file, self.data_dir, self.port, self.extra_config)
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [APPLIANCE, "server", "--config", str(self.config_file)], stdout=log, stderr=log
            )
        wait_until(self.healthy, what=f"appliance server on {self.url} (log: {self.log_file})")

    def healthy(self) -> bool:
        if self.process and self.process.poll() is not None:
            pytest.fail(
                f"appliance server exited with {self.process.returncode}: {self.log_file.read_text()}"
            )
        try:
            status, body = http_json(self.url + "/healthz", timeout=2)
        except OSError:
            return False
        return status == 200 and body["ok"]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[[str], ApplianceServer]]:
    """Start ``appliance server`` with extra TOML appended to its config; stopped at teardown."""
    servers: list[ApplianceServer] = []

    def start(extra_config: str = "") -> ApplianceServer:
        server = ApplianceServer(tmp_path / f"server{len(servers)}", extra_config=extra_config)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def appliance_server(start_server) -> ApplianceServer:
    """``appliance server`` in a subprocess on a free loopback port with its own data directory."""
    return start_server()


@pytest.fixture
def browser():
    """Debian's Chromium driven by Playwright, headless, with no network but loopback."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run",
            ],
        )  # fmt: skip
        yield instance
        instance.close()


# --- the Flask application in-process ---------------------------------------------------------


@pytest.fixture
def app_config(tmp_path: Path):
    from appliance.config import Config

    return Config(data_dir=tmp_path / "data")


@pytest.fixture
def app(app_config):
    from appliance.web import create_app

    application = create_app(app_config)
    yield application
    application.extensions["appliance"].db.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_ci_app(tmp_path):
    """The real Flask app (real SQLite) with ``[ci]`` settings; its dispatcher stopped afterwards."""
    from appliance.ci.settings import CIConfig
    from appliance.config import Config
    from appliance.web import create_app

    apps = []

    def make(**ci_settings):
        config = Config(data_dir=tmp_path / "data", ci=CIConfig(**ci_settings))
        application = create_app(config)
        apps.append(application)
        return application

    yield make
    for application in apps:
        application.extensions["ci"].stop()
        application.extensions["appliance"].db.close()


@pytest.fixture
def ci_app(make_ci_app, monkeypatch):
    """The app with two repositories: ``app``, whose webhook takes a secret, and ``open``."""
    from appliance.ci.settings import CIRepoConfig
    from appliance.config import Secret

    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    return make_ci_app(
        repos=[
            CIRepoConfig(
                name="app", url="/srv/app.git", command="make test", secret=Secret("env:HOOK_SECRET")
            ),
            CIRepoConfig(name="open", url="/srv/open.git"),
        ]
    )
