"""The SD card's layout, and its partitions made from directory trees without loop devices.

An MBR table (the firmware of every Pi reads it) with a FAT32 boot partition, which the firmware
boots from and Linux mounts on /boot/firmware, then the ext4 root, which the first boot grows to
the card. Both filesystems are made as files from trees (``mkfs.vfat`` and ``mcopy``, ``mke2fs
-d``) and written into the image at their offsets: nothing is mounted, no loop device is used.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from appliance.image.stages import Stages

MIB = 1024 * 1024
SECTOR = 512
# Debian's Raspberry Pi images' labels: raspi-firmware's ROOTPART and the fstab name them.
BOOT_LABEL = "RASPIFIRM"
ROOT_LABEL = "RASPIROOT"
BOOT_START = 4 * MIB
BOOT_SIZE = 256 * MIB
# Room left in the root filesystem beyond its files, until the first boot grows it to the card.
ROOT_SLACK = 384 * MIB


@dataclass(frozen=True)
class Layout:
    boot_start: int
    boot_size: int
    root_start: int
    root_size: int

    @property
    def total(self) -> int:
        return self.root_start + self.root_size


@dataclass(frozen=True)
class Partition:
    number: int
    start: int  # bytes
    size: int  # bytes
    type: str


def layout_for(root_bytes: int) -> Layout:
    root_size = _round_up(int(root_bytes * 1.15) + ROOT_SLACK, 4 * MIB)
    return Layout(BOOT_START, BOOT_SIZE, BOOT_START + BOOT_SIZE, root_size)


def tree_bytes(root: Path) -> int:
    """Bytes the tree's files take (apparent sizes), as ``du -sb`` counts them."""
    du = ["du", "-sb", "--one-file-system", str(root)]
    out = subprocess.run(du, capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0])


def identifiers(seed: str) -> tuple[str, str, str]:
    """The disk's MBR id, the FAT volume id and the ext4 UUID, derived from ``seed`` (the version
    and base): the same sources give the same image."""
    digest = hashlib.sha256(seed.encode()).hexdigest()
    return "0x" + digest[:8], digest[8:16], str(uuid.UUID(digest[16:48]))


def make_image(stages: Stages, boot: Path, root: Path, image: Path, work: Path, seed: str) -> Layout:
    layout = layout_for(tree_bytes(root))
    disk_id, volume_id, root_uuid = identifiers(seed)
    boot_fs, root_fs = work / "boot.vfat", work / "root.ext4"
    for path in (boot_fs, root_fs, image):
        path.unlink(missing_ok=True)
    make_boot_filesystem(stages, boot, boot_fs, layout.boot_size, BOOT_LABEL, volume_id)
    stages.run(
        [
            "mke2fs",
            "-q",
            "-t",
            "ext4",
            "-L",
            ROOT_LABEL,
            "-U",
            root_uuid,
            "-E",
            "root_owner=0:0",
            "-d",
            root,
            root_fs,
            f"{layout.root_size // 1024}k",
        ]
    )
    with image.open("wb") as out:
        out.truncate(layout.total)
    table = (
        f"label: dos\nlabel-id: {disk_id}\nunit: sectors\nsector-size: {SECTOR}\n\n"
        f"start={layout.boot_start // SECTOR}, size={layout.boot_size // SECTOR}, type=c, bootable\n"
        f"start={layout.root_start // SECTOR}, size={layout.root_size // SECTOR}, type=83\n"
    )
    stages.run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", image], input=table.encode())
    place(stages, boot_fs, image, layout.boot_start)
    place(stages, root_fs, image, layout.root_start)
    return layout


def make_boot_filesystem(
    stages: Stages, boot: Path, path: Path, size: int, label: str, volume_id: str
) -> None:
    """A FAT32 filesystem of ``size`` bytes in the file ``path``, holding the tree ``boot``."""
    path.unlink(missing_ok=True)
    stages.run(["mkfs.vfat", "-F", "32", "-n", label, "-i", volume_id, "-C", path, str(size // 1024)])
    entries = sorted(boot.iterdir())
    if entries:
        stages.run(["mcopy", "-s", "-p", "-m", "-i", path, *entries, "::/"], env=_MTOOLS_ENV)


def place(stages: Stages, filesystem: Path, image: Path, start: int) -> None:
    """Write a filesystem made as a file into the image at ``start`` bytes, then remove the file."""
    placing = [f"seek={start}", "oflag=seek_bytes", "conv=notrunc,sparse", "status=none"]
    stages.run(["dd", f"if={filesystem}", f"of={image}", "bs=4M", *placing])
    filesystem.unlink()


def grow_last_partition(stages: Stages, image: Path, extra: int) -> Partition:
    """Make the image ``extra`` bytes longer and its last partition end at its new end."""
    last = partitions(image)[-1]
    end = _round_up(last.start + last.size + extra, 4 * MIB)
    with image.open("r+b") as f:
        f.truncate(max(end, image.stat().st_size))
    command = ["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", "-N", str(last.number), image]
    stages.run(command, input=f"{last.start // SECTOR}, {(end - last.start) // SECTOR}\n".encode())
    return partitions(image)[-1]


def copy_out(stages: Stages, image: Path, partition: Partition, filesystem: Path) -> None:
    """The partition's bytes into the file ``filesystem`` (``place`` puts them back)."""
    taking = [f"skip={partition.start}", f"count={partition.size}", "iflag=skip_bytes,count_bytes"]
    stages.run(["dd", f"if={image}", f"of={filesystem}", "bs=4M", *taking, "conv=sparse", "status=none"])


def grow_ext4(stages: Stages, filesystem: Path, size: int) -> None:
    """Grow the ext4 filesystem in the file ``filesystem`` to ``size`` bytes. On a file of its own:
    resize2fs resizes a plain file to the filesystem, which within a whole image would cut it."""
    # resize2fs wants a freshly checked filesystem; e2fsck's 1 is "errors corrected".
    stages.run(["e2fsck", "-f", "-p", filesystem], success=(0, 1))
    stages.run(["resize2fs", filesystem, f"{size // 1024}K"])


def filesystem_identity(image: Path, partition: Partition) -> dict[str, str]:
    """blkid's fields of a partition's filesystem (TYPE, LABEL, UUID, VERSION ...)."""
    out = subprocess.run(
        ["blkid", "--probe", "--output", "export", "--offset", str(partition.start),
         "--size", str(partition.size), str(image)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def extract_boot_files(stages: Stages, image: Path, target: Path) -> None:
    """Copy the files of the image's boot partition into the directory ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    if boot_names(image):
        source = _mtools_target(image)
        stages.run(["mcopy", "-s", "-p", "-m", "-n", "-i", source, "::/*", target], env=_MTOOLS_ENV)


def partitions(image: Path) -> list[Partition]:
    """The image's partition table, as sfdisk reads it."""
    out = subprocess.run(["sfdisk", "--json", str(image)], capture_output=True, text=True, check=True)
    table = json.loads(out.stdout)["partitiontable"]
    sector = int(table.get("sectorsize", SECTOR))
    return [
        Partition(number, int(p["start"]) * sector, int(p["size"]) * sector, str(p["type"]))
        for number, p in enumerate(table["partitions"], start=1)
    ]


def disk_id(image: Path) -> str:
    """The MBR's disk identifier (``0x`` and 8 hex digits): PARTUUIDs are made of it."""
    out = subprocess.run(["sfdisk", "--disk-id", str(image)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


def boot_partition(image: Path) -> Partition:
    return partitions(image)[0]


def root_partition(image: Path) -> Partition:
    return partitions(image)[1]


def _mtools_target(image: Path) -> str:
    return f"{image}@@{boot_partition(image).start}"


# mtools checks a FAT's geometry against the disk's and refuses a partition read at an offset
# within a whole-disk image unless told not to check.
_MTOOLS_ENV = {"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def boot_names(image: Path, directory: str = "") -> list[str]:
    """The names in a directory of the image's boot partition."""
    out = subprocess.run(
        ["mdir", "-b", "-i", _mtools_target(image), f"::/{directory}"],
        capture_output=True, text=True, check=True, env=_MTOOLS_ENV,
    )  # fmt: skip
    return sorted(line.rstrip("/").rsplit("/", 1)[-1] for line in out.stdout.splitlines() if line.strip())


def read_boot_file(image: Path, name: str) -> bytes:
    out = subprocess.run(
        ["mcopy", "-n", "-i", _mtools_target(image), f"::/{name}", "-"],
        capture_output=True,
        check=True,
        env=_MTOOLS_ENV,
    )
    return out.stdout


def write_boot_file(image: Path, name: str, data: bytes) -> None:
    subprocess.run(
        ["mcopy", "-o", "-i", _mtools_target(image), "-", f"::/{name}"],
        input=data,
        check=True,
        env=_MTOOLS_ENV,
    )


def _debugfs(image: Path, request: str) -> bytes:
    device = f"{image}?offset={root_partition(image).start}"
    out = subprocess.run(["debugfs", "-R", request, device], capture_output=True, check=True)
    return out.stdout


def read_root_file(image: Path, path: str) -> bytes | None:
    """A file of the image's root filesystem; None when it is not there."""
    if root_entry(image, path) is None:
        return None
    return _debugfs(image, f'cat "{path}"')


def root_entry(image: Path, path: str) -> dict[str, str] | None:
    """``stat``'s fields of a path in the root filesystem (Type, Mode, User, Group, Size ...), or
    None when it is not there."""
    text = _debugfs(image, f'stat "{path}"').decode("utf-8", "replace")
    if not text.startswith("Inode:"):
        return None
    head = "\n".join(text.splitlines()[:4])
    return dict(re.findall(r"(\w+):\s*(\S+)", head))


def root_names(image: Path, directory: str) -> list[str]:
    """The names in a directory of the root filesystem."""
    text = _debugfs(image, f'ls -p "{directory}"').decode("utf-8", "replace")
    # ls -p: /inode/mode/uid/gid/name/size/
    names = (fields[5] for line in text.splitlines() if len(fields := line.split("/")) > 6)
    return sorted(name for name in names if name not in (".", ".."))
