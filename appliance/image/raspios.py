"""A Raspberry Pi OS Lite image, opened to be customised in place (the ``raspios`` base).

Its root filesystem is copied out of the image, grown, and mounted: ``mount -o loop`` makes a loop
device that the kernel releases with the mount, and the mount exists only in the build's namespace, so
however the build ends no loop device is left. The host's kernel may have no FAT driver (nor is
one needed): the boot partition's files are copied out with mtools and written back afterwards.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.image import disk
from appliance.image.stages import Stages

FAT_TYPES = {"b", "c", "e"}  # FAT32 (CHS, LBA), FAT16 LBA
LINUX_TYPE = "83"


def checked_partitions(image: Path) -> tuple[disk.Partition, disk.Partition]:
    """The boot and root partitions of a Raspberry Pi OS image, or a ValueError saying why the
    file is not one."""
    try:
        found = disk.partitions(image)
    except (subprocess.CalledProcessError, ValueError, KeyError) as exc:
        raise ValueError(f"{image.name} has no partition table sfdisk reads: not an SD card image") from exc
    types = [p.type.lower() for p in found]
    if len(found) != 2 or types[0] not in FAT_TYPES or types[1] != LINUX_TYPE:
        raise ValueError(
            f"{image.name} has partitions of types {types}; Raspberry Pi OS Lite has two, "
            "a FAT boot partition then a Linux root"
        )
    return found[0], found[1]


@contextmanager
def mounted_root(stages: Stages, filesystem: Path, target: Path) -> Iterator[None]:
    """The root filesystem (a file, copied out of the image) mounted on ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    stages.run(["mount", "-t", "ext4", "-o", "loop", filesystem, target])
    try:
        yield
    except BaseException:
        _end_processes_in(target)
        subprocess.run(["umount", "--lazy", str(target)], check=False)
        raise
    _end_processes_in(target)
    # Not lazy: the image is read next, and must hold everything written.
    stages.run(["umount", target])


@contextmanager
def bound(stages: Stages, source: Path, target: Path) -> Iterator[None]:
    """``source`` bind-mounted on ``target``: the boot files where the play finds them."""
    if not target.is_dir():
        raise ValueError(
            "the image has no /boot/firmware: Raspberry Pi OS older than Bookworm, which the "
            "appliance does not support"
        )
    stages.run(["mount", "--bind", source, target])
    try:
        yield
    finally:
        subprocess.run(["umount", "--lazy", str(target)], check=False)


def checked_root(root: Path) -> str:
    """The image's Python version (what the wheelhouse is built for), once the root is known to
    be 64-bit Raspberry Pi OS of Bookworm or later; a ValueError otherwise."""
    if not (root / "etc" / "rpi-issue").is_file():
        raise ValueError("the image is not Raspberry Pi OS: it has no /etc/rpi-issue")
    if not (root / "usr" / "lib" / "aarch64-linux-gnu").is_dir():
        raise ValueError("the image is not 64-bit: use Raspberry Pi OS Lite (64-bit), arm64")
    fstab = (root / "etc" / "fstab").read_text(errors="replace")
    if not re.search(r"^\s*\S+\s+/boot/firmware\s", fstab, re.MULTILINE):
        raise ValueError(
            "the image's /etc/fstab mounts no /boot/firmware: Raspberry Pi OS older than Bookworm"
        )
    versions = sorted(
        (tuple(int(n) for n in match.groups()), f"{match[1]}.{match[2]}")
        for path in (root / "usr" / "lib").glob("python3.*")
        if (match := re.fullmatch(r"python(3)\.(\d+)", path.name)) and (path / "os.py").is_file()
    )
    if not versions:
        raise ValueError("the image has no Python 3 in /usr/lib")
    return versions[-1][1]


def _end_processes_in(root: Path) -> None:
    """Kill what the play left running inside the root (a gpg-agent, say), which would keep it
    mounted, and wait until it is gone; the build's PID namespace holds only the build's."""
    for _ in range(50):
        pids = [pid for pid in _processes() if _is_under(_root_of(pid), root)]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def _processes() -> list[int]:
    return [int(proc.name) for proc in Path("/proc").iterdir() if proc.name.isdigit()]


def _root_of(pid: int) -> Path | None:
    try:
        return Path(os.readlink(f"/proc/{pid}/root"))
    except OSError:  # gone, or a zombie, which holds no file
        return None


def _is_under(path: Path | None, root: Path) -> bool:
    return path is not None and path.is_relative_to(root)
