"""The showroom's supervisord, started as the stack starts it (``appliance showroom supervisord``
with a config file), in the test's temporary directory and on ports drawn at random; and the
showroom the tests drive, as the server would."""

from __future__ import annotations

import shutil
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.showroom.demos import Showroom
from tests.conftest import wait_until
from tests.harness import ShowroomDaemon, processes_inside

RECIPES = Path(__file__).resolve().parent / "fixtures" / "recipes"
# supervisor.xmlrpc.Faults: supervisor 4 answers a start.sh that exits before its startsecs with
# SPAWN_ERROR ("exited too quickly"), the seed's supervisor 3 with ABNORMAL_TERMINATION.
DID_NOT_STAY_UP = {40, 50}


@pytest.fixture
def start_showroom(tmp_path: Path) -> Iterator[Callable[..., ShowroomDaemon]]:
    """Start a showroom's supervisord with ``recipes`` and more ``[showroom]`` settings; a
    ``user`` gets a showroom directory it can reach, outside pytest's (which are root's alone)."""
    daemons: list[ShowroomDaemon] = []

    def start(recipes: Path = RECIPES, **settings) -> ShowroomDaemon:
        showroom_dir = None
        if settings.get("user"):
            showroom_dir = Path(tempfile.mkdtemp(prefix="showroom-", dir="/tmp"))
            showroom_dir.chmod(0o755)
        daemon = ShowroomDaemon(tmp_path / f"showroom{len(daemons)}", recipes, showroom_dir, settings)
        daemons.append(daemon)
        daemon.start()
        return daemon

    yield start
    for daemon in daemons:
        daemon.stop()
        if daemon.showroom_dir is not None:
            shutil.rmtree(daemon.showroom_dir)


@pytest.fixture
def showroom_daemon(start_showroom) -> ShowroomDaemon:
    return start_showroom()


@pytest.fixture
def showroom(showroom_daemon: ShowroomDaemon) -> Showroom:
    return Showroom(showroom_daemon.config)


def fetch(port: int) -> bytes:
    """A demo's page from the loopback; Apache may still be reloading gracefully."""

    def answer() -> bytes | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
                return response.read()
        except OSError:
            return None

    return wait_until(answer, what=f"a page on 127.0.0.1:{port}")


def assert_no_demo_process(showroom: Showroom) -> None:
    """Nothing runs in any demo's directory: every process group was stopped whole."""
    wait_until(lambda: not processes_inside(showroom.layout.demos), what="the demos' processes to end")
