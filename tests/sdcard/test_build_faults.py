"""A build that fails, and one that is interrupted, leave nothing behind: no mount, no process in
the chroot, no loop device, no work directory; the failing stage's log is shown.

The first two start from debootstrap's tree in the cache (which `make image`, run first, filled)
and meet an archive on a loopback port that is closed or never answers, in the stage that has the
chroot's mounts and runs apt in it. The third gives the raspios base an image that is not
Raspberry Pi OS.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness import ROOT, free_port

pytestmark = pytest.mark.slow

CACHE = Path.home() / ".cache" / "appliance" / "image"


@pytest.fixture
def cached_bootstrap():
    if not list(CACHE.glob("bootstrap-*.tar")):
        pytest.fail(f"no debootstrap tree in {CACHE}: run `make image` first (make image-check does)")


def start_build(tmp_path: Path, *base: str | Path) -> subprocess.Popen:
    """``appliance image build`` with ``base``'s options (a mirror, or --base raspios and its image)."""
    return subprocess.Popen(
        [sys.executable, "-m", "appliance", "image", "build", "--output-dir", tmp_path / "out",
         "--work-dir", tmp_path / "work", "--cache-dir", CACHE, *base],
        cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PATH": f"{ROOT / '.venv-ansible' / 'bin'}:{os.environ['PATH']}"},
        start_new_session=True,
    )  # fmt: skip


def assert_nothing_left(tmp_path: Path) -> None:
    work = tmp_path / "work"
    assert [p.name for p in work.iterdir()] == [], "the work directory was not removed"
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(work) not in mounts
    losetup = subprocess.run(
        ["losetup", "--list", "--noheadings", "--output", "BACK-FILE"], capture_output=True, text=True
    )
    assert str(tmp_path) not in losetup.stdout
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                root, cwd = os.readlink(proc / "root"), os.readlink(proc / "cwd")
            except OSError:
                continue
            assert not root.startswith(str(work)) and not cwd.startswith(str(work)), (
                f"process {proc.name} left"
            )


def test_a_failing_stage_shows_its_log_and_leaves_nothing(tmp_path, cached_bootstrap):
    closed = f"http://127.0.0.1:{free_port()}/debian"
    result = start_build(tmp_path, "--mirror", closed)
    _out, err = result.communicate(timeout=900)
    assert result.returncode == 1
    assert "FAILED: stage system" in err
    assert "apt-get update" in err and "exited with status 100" in err
    assert "| " in err  # the end of the stage's log
    assert (tmp_path / "out" / "appliance-image.build.log").is_file()
    assert not list((tmp_path / "out").glob("*.img*"))
    assert_nothing_left(tmp_path)


def test_an_interrupted_build_stops_its_chroot_and_unmounts(tmp_path, cached_bootstrap):
    # An archive that takes connections and never answers: apt waits in the chroot.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        process = start_build(tmp_path, "--mirror", f"http://127.0.0.1:{silent.getsockname()[1]}/debian")
        log = tmp_path / "out" / "appliance-image.build.log"
        deadline = time.monotonic() + 900
        while "apt-get update" not in (log.read_text() if log.exists() else ""):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the build never reached apt in the chroot"
            time.sleep(1)
        time.sleep(3)  # apt's http method is connecting, under emulation
        chrooted = [
            p for p in Path("/proc").iterdir() if p.name.isdigit() and _root_of(p).startswith(str(tmp_path))
        ]
        assert chrooted, "no process ran in the chroot"
        os.kill(process.pid, signal.SIGTERM)
        _out, err = process.communicate(timeout=120)
    assert process.returncode == 130
    assert "interrupted in stage system" in err
    assert_nothing_left(tmp_path)


def test_an_image_that_is_not_raspberry_pi_os_is_refused_and_leaves_nothing(tmp_path, raw_image):
    """The Debian image is a whole arm64 system, but not Raspberry Pi OS: the raspios base opens
    it (its root mounted from a loop device) and refuses it."""
    result = start_build(tmp_path, "--base", "raspios", "--base-image", raw_image)
    _out, err = result.communicate(timeout=600)
    assert result.returncode == 1
    assert "FAILED: stage unpack" in err
    assert "not Raspberry Pi OS: it has no /etc/rpi-issue" in err
    assert not list((tmp_path / "out").glob("*.img*"))
    assert_nothing_left(tmp_path)


def _root_of(proc: Path) -> str:
    try:
        return os.readlink(proc / "root")
    except OSError:
        return ""
