"""Shared fixtures: real daemons on temporary sockets and ports, real git repositories.

Each fixture starts the real program (supervisord, lircd, git, ``appliance server``) the way a
user's machine runs it, on paths inside the test's temporary directory, and stops it afterwards.
The programs and helpers themselves are in ``tests/harness.py``, which the benchmarks use too.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.config import Config, ServerConfig
from appliance.web import Server
from tests import harness

# The harness's programs and helpers: the tests import them from here.
from tests.harness import (  # noqa: F401
    APPLIANCE,
    ROOT,
    ApplianceServer,
    GitRepo,
    HttpClient,
    LircDaemon,
    SupervisorDaemon,
    free_port,
    http_json,
    json_answer,
    open_stream,
    passing_repo,
    raw_request,
    read_until,
    reset,
    write_config,
)


def wait_until(
    condition: Callable[[], object], timeout: float = 20.0, interval: float = 0.05, what: str = ""
) -> object:
    """Poll ``condition`` until it returns something truthy; fail the test after ``timeout``."""
    try:
        return harness.wait_until(condition, timeout, interval, what)
    except harness.WaitTimeout as timed_out:
        message = str(timed_out)
    pytest.fail(message)


# --- the server in this process ---------------------------------------------------------------


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


# --- supervisord ------------------------------------------------------------------------------


@pytest.fixture
def supervisord(tmp_path: Path) -> Iterator[SupervisorDaemon]:
    """A real supervisord on a temporary unix socket; programs go in ``include_dir``."""
    daemon = SupervisorDaemon(tmp_path / "supervisor")
    daemon.start()
    yield daemon
    daemon.stop()


# --- lircd ------------------------------------------------------------------------------------


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


@pytest.fixture
def git_repo(tmp_path: Path) -> GitRepo:
    """A real git repository on branch main with one commit holding a passing test."""
    return passing_repo(tmp_path / "repo")


# --- appliance server -------------------------------------------------------------------------


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
    application.extensions["appliance"].close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_configured_app(tmp_path):
    """The real Flask app (real SQLite) over a configuration of the sections given (``ci=``,
    ``server=``, ``auth=``...); their services closed afterwards."""
    from appliance.web import create_app

    apps = []

    def make(**sections):
        application = create_app(Config(data_dir=tmp_path / "data", **sections))
        apps.append(application)
        return application

    yield make
    for application in apps:
        application.extensions["appliance"].close()


@pytest.fixture
def make_ci_app(make_configured_app):
    """The app with ``[ci]`` settings."""
    from appliance.ci.settings import CIConfig

    return lambda **ci_settings: make_configured_app(ci=CIConfig(**ci_settings))


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


# --- the SD card image (tests/sdcard/: `make image-check` and `make test-image`) ------------------


def pytest_addoption(parser):
    parser.addoption(
        "--image",
        type=Path,
        help="The SD card image (.img.xz) that tests/sdcard/ check; without it they are not collected.",
    )


def pytest_ignore_collect(collection_path, config):
    # They need an image built first (make image), as root: `make test` builds one and runs them.
    if collection_path.name == "sdcard" and collection_path.parent == Path(__file__).parent:
        return config.getoption("--image") is None
    return None
