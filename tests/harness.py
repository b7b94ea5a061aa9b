"""Real programs for the tests and the benchmarks: ``appliance server`` and the CI's runners and
observers as subprocesses, supervisord and lircd on temporary sockets, git repositories, config
files, raw HTTP to a server.

Plain functions and classes, no pytest: the fixtures in the conftest files are thin wrappers over
them, and the scripts in ``bench/`` import them directly (with the repository root on
``sys.path``). A wait that runs out raises ``WaitTimeout``, which the tests' ``wait_until`` turns
into a test failure.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from appliance.lamp.nec import decode_nec
from appliance.supervisor import Supervisor, SupervisorUnavailable

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
APPLIANCE = str(VENV_BIN / "appliance")

T = TypeVar("T")


class WaitTimeout(TimeoutError):
    """``wait_until`` gave up: the condition never held."""


class ProcessExited(RuntimeError):
    """A program exited while it was waited for."""


def wait_until(
    condition: Callable[[], T], timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll ``condition`` until it returns something truthy, and return that; raise
    ``WaitTimeout`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout} s waiting for {what or condition}")
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


_to_json = json.dumps  # HttpClient.post's ``json`` argument, as the test client's, hides the module


@dataclass
class HttpAnswer:
    """An answer over real HTTP, read as Flask's test client's answers are read."""

    status_code: int
    mimetype: str
    data: bytes

    def get_json(self) -> Any:
        return json.loads(self.data)


class HttpClient:
    """A few calls of Flask's test client (``post``, ``get``) made over real HTTP to ``url``, so
    one test can check both the Flask views and what the server really answers."""

    def __init__(self, url: str, headers: dict[str, str] | None = None):
        self.url = url
        self.headers = headers or {}

    def get(self, path: str, headers: dict | None = None) -> HttpAnswer:
        return self.open("GET", path, None, headers)

    def post(
        self,
        path: str,
        data: bytes | str | None = None,
        json: Any = None,
        content_type: str | None = None,
        headers: dict | None = None,
    ) -> HttpAnswer:
        if json is not None:
            data, content_type = _to_json(json), "application/json"
        body = data.encode() if isinstance(data, str) else data
        return self.open(
            "POST",
            path,
            body,
            {**({"Content-Type": content_type} if content_type else {}), **(headers or {})},
        )

    def open(self, method: str, path: str, body: bytes | None, headers: dict | None) -> HttpAnswer:
        request = urllib.request.Request(
            self.url + path, data=body, method=method, headers={**self.headers, **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return HttpAnswer(response.status, response.headers.get_content_type(), response.read())
        except urllib.error.HTTPError as exc:
            return HttpAnswer(exc.code, exc.headers.get_content_type(), exc.read())


def healthy(url: str, timeout: float = 2) -> bool:
    """Whether the server at ``url`` answers ``/healthz`` with ok."""
    try:
        status, body = http_json(url + "/healthz", timeout=timeout)
    except OSError:
        return False
    return status == 200 and body["ok"]


# --- configuration ----------------------------------------------------------------------------


def write_config(path: Path, data_dir: Path, port: int, extra: str = "") -> Path:
    """An appliance.toml: ``extra`` follows ``port`` in ``[server]``, so it may add server keys."""
    path.write_text(f'data_dir = "{data_dir}"\n\n[server]\nport = {port}\n{extra}', encoding="utf-8")
    return path


def toml_value(value):
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def ci_config(repos, **settings):
    """A ``[ci]`` table with ``settings`` and a ``[[ci.repos]]`` table per dict of ``repos``."""
    lines = ["", "[ci]", *(f"{key} = {toml_value(value)}" for key, value in settings.items())]
    for repo in repos:
        lines += ["", "[[ci.repos]]", *(f"{key} = {toml_value(value)}" for key, value in repo.items())]
    return "\n".join(lines) + "\n"


# --- processes --------------------------------------------------------------------------------


def start_appliance(*args: str, config: Path, log: Path, env: dict | None = None) -> subprocess.Popen:
    """``appliance <args> --config <config>`` in the background, its output appended to ``log``."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [APPLIANCE, *args, "--config", str(config)], stdout=output, stderr=output, env=env
        )


def stop_process(process: subprocess.Popen | None, timeout: float = 30) -> None:
    """SIGTERM, as supervisord stops a program, and wait for it to exit."""
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=timeout)


# --- raw HTTP to a server ---------------------------------------------------------------------


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
    in the same packet are left in the socket for the caller to read."""
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
    """A real supervisord on a unix socket in ``directory``; programs go in ``include_dir``."""

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
        stop_process(self.process)


# --- lircd ------------------------------------------------------------------------------------


@dataclass
class LircDaemon:
    """lircd with Debian's ``file`` driver: every frame it sends is written as pulse/space lines."""

    directory: Path
    config: Path = ROOT / "lircd.conf"
    process: subprocess.Popen | None = None
    # The size of the frames file when it was last decoded, and its codes then.
    _decoded: tuple[int, list[int]] = field(default=(-1, []), init=False, repr=False)

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
        """The 32-bit NEC codes of every frame sent so far, decoded from the recorded timings
        (again only when lircd has written to the file since: a benchmark asks every millisecond)."""
        try:
            size = self.frames_file.stat().st_size
        except FileNotFoundError:
            return []
        if size != self._decoded[0]:
            self._decoded = (size, decode_nec(self.frames_file.read_text()))
        return list(self._decoded[1])


# --- git --------------------------------------------------------------------------------------

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Ada Tester", "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Ada Tester", "GIT_COMMITTER_EMAIL": "ada@example.org",
    "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
}  # fmt: skip

PASSING_TEST = (
    "import unittest\n\n\nclass T(unittest.TestCase):\n"
    "    def test_ok(self):\n        self.assertTrue(True)\n"
)


@dataclass
class GitRepo:
    path: Path
    commits: list[str] = field(default_factory=list)

    @classmethod
    def init(cls, path: Path) -> GitRepo:
        """A new repository on branch main, without commits."""
        path.mkdir(parents=True)
        repo = cls(path)
        repo.git("init", "--quiet", "--initial-branch=main")
        return repo

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", "-C", str(self.path), *args], capture_output=True, text=True, env=GIT_ENV, check=True
        )
        return result.stdout.strip()

    def commit(self, files: dict[str, str], message: str) -> str:
        """Commit ``files`` (path: content) with ``message``; no files, an empty commit."""
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        self.git("add", "--all")
        self.git("commit", "--quiet", *([] if files else ["--allow-empty"]), "-m", message)
        sha = self.git("rev-parse", "HEAD")
        self.commits.append(sha)
        return sha

    def bare_remote(self, path: Path) -> Path:
        """A bare clone at ``path``, added as ``origin``: the repository a team pushes to."""
        subprocess.run(["git", "clone", "--quiet", "--bare", str(self.path), str(path)], check=True)
        self.git("remote", "add", "origin", str(path))
        return path

    def push(self) -> None:
        self.git("push", "--quiet", "origin", "main")


def passing_repo(path: Path) -> GitRepo:
    """A real git repository on branch main with one commit holding a passing test."""
    repo = GitRepo.init(path)
    repo.commit({"tests/test_pass.py": PASSING_TEST}, "Add a passing test")
    return repo


# --- appliance server -------------------------------------------------------------------------


@dataclass
class ApplianceServer:
    """``appliance server`` in a subprocess on a free loopback port, its config, data and log in
    ``directory``; ``extra_config`` is appended to the config (after ``port``, in ``[server]``)."""

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

    @property
    def token(self) -> str:
        """The admin's API token, generated at the first start."""
        return (self.data_dir / "secrets" / "api-token").read_text().strip()

    def start(self, interval: float = 0.05) -> None:
        """Start it and wait until ``/healthz`` answers, asking every ``interval`` seconds."""
        self.directory.mkdir(parents=True, exist_ok=True)
        write_config(self.config_file, self.data_dir, self.port, self.extra_config)
        self.process = start_appliance("server", config=self.config_file, log=self.log_file)
        wait_until(
            self.healthy, interval=interval, what=f"appliance server on {self.url} (log: {self.log_file})"
        )

    def healthy(self) -> bool:
        if self.process and self.process.poll() is not None:
            raise ProcessExited(
                f"appliance server exited with {self.process.returncode}: {self.log_file.read_text()}"
            )
        return healthy(self.url)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)


# --- the CI -----------------------------------------------------------------------------------

FINISHED = ("passed", "failed", "error", "cancelled", "timed_out")


class CI:
    """A running server plus the runners and observers started against it."""

    def __init__(self, server: ApplianceServer, directory: Path):
        self.server = server
        self.directory = directory
        self.processes: list[subprocess.Popen] = []

    @property
    def token(self) -> str:
        return self.server.token

    def start(self, *args: str) -> subprocess.Popen:
        """``appliance <args>`` with the server's config, logged to ``<args>.log``."""
        log = self.directory / f"{'-'.join(args)}.log"
        process = start_appliance(*args, config=self.server.config_file, log=log)
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

    def runners(self) -> list[dict]:
        status, body = self.api("/api/ci/runners")
        assert status == 200, body
        return body["runners"]

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

    def wait_finished(self, count: int, timeout: float = 60, interval: float = 0.05) -> list[dict]:
        return wait_until(
            lambda: self.finished(count), timeout=timeout, interval=interval, what=f"{count} finished builds"
        )

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


# --- the showroom's supervisord ---------------------------------------------------------------

SHOWROOM_SUPERVISORD = [APPLIANCE, "showroom", "supervisord"]
SHOWROOM_PORTS = 64


def free_port_range(count: int) -> int:
    """A first port from which ``count`` ports are free now: drawn at random below Linux's
    ephemeral ports (32768 and up), so that runs side by side rarely draw the same."""
    import random

    from appliance.showroom.ports import bindable

    draw = random.SystemRandom()
    for _ in range(100):
        base = draw.randrange(21000, 32768 - count)
        if all(bindable(port) for port in range(base, base + count)):
            return base
    raise RuntimeError(f"no {count} free ports in a row")


def counting_calls(supervisor: Supervisor) -> list[str]:
    """The methods called on ``supervisor`` from now on, in order (its ``call`` wrapped in place;
    ``del supervisor.call`` ends it)."""
    calls: list[str] = []
    call = supervisor.call

    def counted(method: str, *args: Any) -> Any:
        calls.append(method)
        return call(method, *args)

    supervisor.call = counted
    return calls


def processes_inside(directory: Path) -> list[int]:
    """The processes working in ``directory`` or below: a demo works in its own directory,
    Apache in the showroom's ``apache/``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cwd = Path(os.readlink(entry / "cwd")) if entry.name.isdigit() else None
        except OSError:
            continue  # gone meanwhile
        if cwd is not None and cwd.is_relative_to(directory):
            found.append(int(entry.name))
    return found


@dataclass
class ShowroomDaemon:
    """The showroom's supervisord as the stack starts it, from a config file in ``directory``
    (with its data directory) that names ``recipes``, ``showroom_dir`` (by default in
    ``directory``) and ports from a free ``port_base``; ``settings`` are more ``[showroom]`` keys."""

    directory: Path
    recipes: Path
    showroom_dir: Path | None = None
    settings: dict = field(default_factory=dict)
    port_base: int = field(default_factory=lambda: free_port_range(SHOWROOM_PORTS))
    process: subprocess.Popen | None = None

    @property
    def showroom_directory(self) -> Path:
        return self.showroom_dir or self.directory / "showroom"

    @property
    def config_file(self) -> Path:
        return self.directory / "appliance.toml"

    @property
    def log_file(self) -> Path:
        return self.directory / "supervisord.out"

    @property
    def config(self):
        from appliance.config import load_file

        return load_file(self.config_file)

    @property
    def client(self) -> Supervisor:
        return Supervisor(self.showroom_directory / "run" / "supervisor.sock")

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        showroom = {
            "enabled": True,
            "recipes": str(self.recipes),
            "directory": str(self.showroom_directory),
            "port_base": self.port_base,
            "ports": SHOWROOM_PORTS,
            **self.settings,
        }
        # json.dumps writes a bool as TOML does; toml_value the rest.
        lines = [
            f"{key} = {json.dumps(value) if isinstance(value, bool) else toml_value(value)}"
            for key, value in showroom.items()
        ]
        self.config_file.write_text(
            f"data_dir = {toml_value(str(self.directory / 'data'))}\n\n[showroom]\n"
            + "\n".join(lines)
            + "\n",
            encoding="utf-8",
        )
        with self.log_file.open("ab") as output:
            self.process = subprocess.Popen(
                [*SHOWROOM_SUPERVISORD, "--config", str(self.config_file)],
                cwd=self.directory,
                stdout=output,
                stderr=output,
                start_new_session=True,  # a group of its own: stopped whole
            )
        wait_until(self._answers, what=f"the showroom's supervisord (log: {self.log_file})")

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise ProcessExited(f"exited with {self.process.returncode}: {self.log_file.read_text()}")
        try:
            self.client.processes()
        except SupervisorUnavailable:
            return False
        return True

    def state(self, program: str) -> str:
        return self.client.call("getProcessInfo", program)["statename"]

    def stop(self) -> None:
        """SIGTERM to its group (supervisord stops the demos and Apache first), SIGKILL to what is
        left of it after 30 s, and to any process still working in the showroom's directory."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        for pid in processes_inside(self.showroom_directory):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # gone meanwhile


def alive(pid: int) -> bool:
    """Whether the process runs; a zombie has ended, and waits only for its parent to collect it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
