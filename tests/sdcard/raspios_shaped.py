"""An image shaped as Raspberry Pi OS Lite is, made from the Debian image `make image` built: no
Raspberry Pi OS image can be downloaded here, and the ``raspios`` base must still be exercised on
a whole arm64 system.

What the base relies on is made as Raspberry Pi OS has it: the partitions labelled ``bootfs`` and
``rootfs``, ``/etc/rpi-issue``, an fstab and a cmdline.txt naming the partitions by PARTUUID,
and no Debian raspi-firmware settings (so the lirc role takes Raspberry Pi OS's way, config.txt).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from appliance.image import disk

RPI_ISSUE = "Raspberry Pi reference 2025-11-24\nGenerated using pi-gen (a stand-in made by the tests)\n"


def make_raspios_shaped(debian_image: Path, path: Path) -> Path:
    subprocess.run(["cp", "--sparse=always", str(debian_image), str(path)], check=True)
    boot, root = disk.partitions(path)
    disk_id = disk.disk_id(path).removeprefix("0x")
    subprocess.run(
        ["mlabel", "-i", f"{path}@@{boot.start}", "::bootfs"],
        check=True,
        env={**os.environ, "MTOOLS_SKIP_CHECK": "1"},
    )
    cmdline = (
        f"console=serial0,115200 console=tty1 root=PARTUUID={disk_id}-02 rootfstype=ext4 "
        "fsck.repair=yes rootwait\n"
    )
    disk.write_boot_file(path, "cmdline.txt", cmdline.encode())
    fstab = (
        "proc            /proc           proc    defaults          0       0\n"
        f"PARTUUID={disk_id}-01  /boot/firmware  vfat    defaults          0       2\n"
        f"PARTUUID={disk_id}-02  /               ext4    defaults,noatime  0       1\n"
    )
    staging = path.parent / "raspios-files"
    staging.mkdir(exist_ok=True)
    (staging / "fstab").write_text(fstab)
    (staging / "rpi-issue").write_text(RPI_ISSUE)
    requests = [
        "ssv volume_name rootfs",
        "rm /etc/fstab",
        f"write {staging / 'fstab'} /etc/fstab",
        f"write {staging / 'rpi-issue'} /etc/rpi-issue",
        "rm /etc/default/raspi-firmware",
    ]
    (staging / "requests").write_text("\n".join(requests) + "\n")
    subprocess.run(
        ["debugfs", "-w", "-f", str(staging / "requests"), f"{path}?offset={root.start}"],
        check=True,
        capture_output=True,
    )
    return path
