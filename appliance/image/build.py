"""``appliance image build``: an arm64 Raspberry Pi SD card image, provisioned by ansible/site.yml.

Two bases, one play. The play runs in the image's root over Ansible's chroot connection, under
qemu-user, with ``appliance_image`` (nothing started, no reboot).

- ``debian``: the root tree is made with debootstrap (``linux-image-arm64`` and ``raspi-firmware``,
  as Debian's own Raspberry Pi images are); its partitions are made from the trees without loop
  devices (``disk.py``).
- ``raspios``: a Raspberry Pi OS Lite image the user supplies is customised in place, as pi-gen
  and sdm do: its root partition is grown and mounted (a loop device that goes with the mount),
  its boot partition's files are copied out and written back into a FAT of the same label and id.

The build runs in a mount and PID namespace of its own: the chroot's mounts exist only there and
every process started in it dies with it, so a failed or interrupted build leaves no mount and no
process behind, whatever stage it was in.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from appliance.image import disk, raspios
from appliance.image.stages import StageFailed, Stages

__all__ = ["BuildOptions", "BuildResult", "StageFailed", "build", "find_checkout", "run_in_namespace"]

# Set in the namespace's first process: the build itself runs there.
NAMESPACE_ENV = "APPLIANCE_IMAGE_IN_NAMESPACE"
SUITE = "bookworm"
PYTHON_VERSION = "3.11"  # bookworm's: the wheelhouse's target
DEFAULT_MIRROR = "http://deb.debian.org/debian"
HOST_TOOLS = {
    "debootstrap": "debootstrap",
    "chroot": "coreutils",
    "unshare": "util-linux",
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "mke2fs": "e2fsprogs",
    "sfdisk": "fdisk",
    "xz": "xz-utils",
    "update-binfmts": "binfmt-support",
    "ansible-playbook": "ansible (make image puts .venv-ansible/bin on PATH)",
}
# What debootstrap adds to minbase: what the play's first task needs.
BOOTSTRAP_PACKAGES = ["python3", "python3-apt", "ca-certificates"]
# The system around the appliance: init, kernel and firmware (Wi-Fi's too), the network
# (NetworkManager, as Raspberry Pi OS), SSH, mDNS (<hostname>.local), a clock without an RTC, and
# what the first boot uses (sfdisk, resize2fs, useradd, visudo).
SYSTEM_PACKAGES = [
    "systemd-sysv", "udev", "kmod", "dbus", "linux-image-arm64", "raspi-firmware", "firmware-brcm80211",
    "wireless-regdb", "wpasupplicant", "network-manager", "openssh-server", "avahi-daemon", "libnss-mdns",
    "sudo", "systemd-timesyncd", "fake-hwclock", "e2fsprogs", "fdisk", "iproute2", "iputils-ping", "less",
    "nano",
]  # fmt: skip
# The initramfs holds only what mounts the root: the SD card on a Pi 3 and 4 (the Pi 4's card's
# 1.8 V regulator is a module), USB storage, and virtio for an emulated boot.
INITRAMFS_MODULES = [
    "ext4", "sdhci-iproc", "bcm2835", "gpio-regulator", "reset-raspberrypi", "dwc2", "xhci-pci",
    "usb-storage", "uas", "virtio_blk", "virtio_pci",
]  # fmt: skip
STAGE_COUNTS = {"debian": 8, "raspios": 7}
# Room added to Raspberry Pi OS's root for the appliance (its image leaves little free); the first
# boot grows it to the card in any case.
RASPIOS_GROWTH = 1024 * disk.MIB


@dataclass(frozen=True)
class BuildOptions:
    source: Path  # the project's checkout: ansible/, scripts/wheelhouse
    output_dir: Path
    work_dir: Path
    mirror: str = DEFAULT_MIRROR
    keep_work: bool = False
    # debootstrap's tree is kept there for the next build; None: no cache.
    cache_dir: Path | None = None
    # A Raspberry Pi OS Lite image (.img or .img.xz) to customise; None: Debian's packages.
    base_image: Path | None = None

    @property
    def base(self) -> str:
        return "debian" if self.base_image is None else "raspios"


@dataclass(frozen=True)
class BuildResult:
    image: Path
    checksum: Path
    log: Path


def find_checkout(start: Path) -> Path | None:
    """The project checkout holding ``start`` (or the package's own, for an editable install)."""
    for candidate in [start, *start.parents, *Path(__file__).resolve().parents]:
        if all((candidate / name).is_file() for name in ("ansible/site.yml", "scripts/wheelhouse")):
            return candidate
    return None


def missing_host_tools() -> list[str]:
    return [f"{tool} ({package})" for tool, package in HOST_TOOLS.items() if not shutil.which(tool)]


def run_in_namespace(argv: list[str]) -> int:
    """Run the build (``argv``) as the first process of new mount and PID namespaces; SIGTERM here
    is passed on to it, so that it cleans up as it does on Ctrl-C."""
    command = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--pid",
        "--fork",
        "--kill-child=SIGTERM",
        "--mount-proc",
        *argv,
    ]
    child = subprocess.Popen(command, env={**os.environ, NAMESPACE_ENV: "1"})

    def pass_on(signum, _frame):
        for pid in _children(child.pid):
            os.kill(pid, signum)

    previous = signal.signal(signal.SIGTERM, pass_on)
    # Ctrl-C reaches every process of the terminal's group; this one only waits for the build.
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return child.wait()
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _children(pid: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return [int(c) for task in tasks for c in (task / "children").read_text().split()]
    except OSError:
        return []


class Interrupted(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is."""


def _interrupt(signum, _frame):
    raise Interrupted(f"signal {signum}")


def build(options: BuildOptions, terminal=sys.stderr) -> BuildResult:
    """The whole build, in the namespace (see ``run_in_namespace``)."""
    # The namespace's first process ignores signals it has no handler for.
    signal.signal(signal.SIGTERM, _interrupt)
    options.output_dir.mkdir(parents=True, exist_ok=True)
    options.work_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="appliance-image.", dir=options.work_dir))
    log = options.output_dir / "appliance-image.build.log"
    log.unlink(missing_ok=True)
    stages = Stages(log, STAGE_COUNTS[options.base], terminal)
    try:
        result = _build(options, stages, work, log)
        stages.say(f"built {result.image} in {stages.summary()}")
        return result
    finally:
        stages.close()
        if not options.keep_work:
            shutil.rmtree(work, ignore_errors=True)


def _build(options: BuildOptions, stages: Stages, work: Path, log: Path) -> BuildResult:
    with stages.stage("host", "Checking this machine (arm64 emulation, tools)"):
        _check_host(stages)
    if options.base_image is None:
        image = _build_debian(options, stages, work)
    else:
        image = _customise_raspios(options, stages, work, options.base_image)
    compressed = image.with_name(image.name + ".xz")
    checksum = compressed.with_name(compressed.name + ".sha256")
    with stages.stage("compress", "Compressing the image (xz) and its sha256"):
        compressed.unlink(missing_ok=True)
        # -3: a third faster than the default -6 here, for an eighth more bytes (docs/image.md).
        stages.run(["xz", "--threads=0", "-3", "--force", image])
        digest = _sha256(compressed)
        checksum.write_text(f"{digest}  {compressed.name}\n")
    final_log = compressed.with_name(image.name.removesuffix(".img") + ".build.log")
    log.rename(final_log)  # the build's open log goes on into it
    return BuildResult(compressed, checksum, final_log)


def _wheelhouse(stages: Stages, source: Path, python_version: str) -> None:
    description = f"Building the appliance's wheelhouse for aarch64, Python {python_version}"
    with stages.stage("wheelhouse", description):
        # With this Python's pip: the appliance's environment has it.
        listing = stages.output(
            [source / "scripts" / "wheelhouse", "aarch64", python_version],
            env={"PYTHON": sys.executable},
            cwd=source,
        )
        stages.note(f"wheelhouse {listing.strip().splitlines()[-1]}")


def _build_debian(options: BuildOptions, stages: Stages, work: Path) -> Path:
    root = work / "root"
    _wheelhouse(stages, options.source, PYTHON_VERSION)
    with stages.stage("bootstrap", f"Debootstrapping Debian {SUITE} arm64"):
        _bootstrap(stages, root, options)
    with ExitStack() as mounts:
        with stages.stage("system", "Installing the kernel, the Pi's firmware and the system"):
            mounts.enter_context(_chroot_mounts(stages, root))
            _install_system(stages, root, options.mirror)
        with stages.stage("provision", "Provisioning with ansible/site.yml (image mode)"):
            _provision(stages, options.source, root, work)
        with stages.stage("finish", "Writing the boot files; removing what each Pi makes"):
            _run_kernel_hooks(stages, root)
            _remove_per_pi_state(stages, root)
    # The version installed, which names the image (the play builds the wheelhouse again if the
    # sources changed meanwhile).
    version = _installed_version(root)
    boot = work / "boot"
    image = options.output_dir / f"appliance-{version}-debian.img"
    with stages.stage("disk", "Making the partitions and the image"):
        (root / "boot" / "firmware").rename(boot)
        (root / "boot" / "firmware").mkdir()
        layout = disk.make_image(stages, boot, root, image, work, seed=f"{version} debian")
        stages.note(f"image {layout.total // disk.MIB} MiB: root {layout.root_size // disk.MIB} MiB")
    return image


def _customise_raspios(options: BuildOptions, stages: Stages, work: Path, base_image: Path) -> Path:
    image, root, boot, root_fs = work / "image.img", work / "root", work / "boot", work / "root.ext4"
    with ExitStack() as mounts:
        growth = f"{RASPIOS_GROWTH // disk.MIB} MiB"
        with stages.stage("unpack", f"Opening {base_image.name}; growing its root by {growth}"):
            _copy_image(stages, base_image, image)
            boot_partition, root_partition = raspios.checked_partitions(image)
            boot_identity = disk.filesystem_identity(image, boot_partition)
            disk.copy_out(stages, image, root_partition, root_fs)
            root_partition = disk.grow_last_partition(stages, image, RASPIOS_GROWTH)
            disk.grow_ext4(stages, root_fs, root_partition.size)
            mounts.enter_context(raspios.mounted_root(stages, root_fs, root))
            python_version = raspios.checked_root(root)
            disk.extract_boot_files(stages, image, boot)
            mounts.enter_context(raspios.bound(stages, boot, root / "boot" / "firmware"))
            mounts.enter_context(_chroot_mounts(stages, root))
        _wheelhouse(stages, options.source, python_version)
        with stages.stage("provision", "Provisioning with ansible/site.yml (image mode)"):
            _provision(stages, options.source, root, work)
        with stages.stage("finish", "Removing what each Pi makes"):
            _remove_per_pi_state(stages, root)
        version = _installed_version(root)
    output = options.output_dir / f"appliance-{version}-raspios.img"
    with stages.stage("disk", "Writing the partitions back into the image"):
        fat = work / "boot.vfat"
        # The same label and volume id: Raspberry Pi OS's fstab and cmdline.txt may name them.
        label = boot_identity.get("LABEL", "bootfs")
        volume_id = boot_identity.get("UUID", "").replace("-", "") or disk.identifiers(output.name)[1]
        disk.make_boot_filesystem(stages, boot, fat, boot_partition.size, label, volume_id)
        disk.place(stages, fat, image, boot_partition.start)
        disk.place(stages, root_fs, image, root_partition.start)
        output.unlink(missing_ok=True)
        shutil.move(image, output)
    return output


def _copy_image(stages: Stages, source: Path, image: Path) -> None:
    """The user's image, decompressed when it is .xz (as Raspberry Pi publishes it)."""
    if source.name.endswith(".xz"):
        with image.open("wb") as out:
            decompress = ["xz", "--decompress", "--stdout", "--threads=0", str(source)]
            subprocess.run(decompress, stdout=out, check=True)
    else:
        stages.run(["cp", "--sparse=always", source, image])


def _bootstrap(stages: Stages, root: Path, options: BuildOptions) -> None:
    """debootstrap's tree, or the same from the cache (the system stage updates it)."""
    command = ["debootstrap", "--arch=arm64", "--variant=minbase", "--components=main,non-free-firmware",
               f"--include={','.join(BOOTSTRAP_PACKAGES)}", SUITE]  # fmt: skip
    cached = None
    if options.cache_dir is not None:
        key = hashlib.sha256(" ".join(command).encode()).hexdigest()[:12]
        cached = options.cache_dir / f"bootstrap-{SUITE}-arm64-{key}.tar"
        if cached.is_file():
            stages.say(f"      from the cache: {cached}")
            root.mkdir()
            stages.run(
                [
                    "tar",
                    "--extract",
                    "--numeric-owner",
                    "--xattrs",
                    "--xattrs-include=*",
                    "-f",
                    cached,
                    "-C",
                    root,
                ]
            )
            return
    stages.run([*command, root, options.mirror])
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        stages.run(
            [
                "tar",
                "--create",
                "--numeric-owner",
                "--xattrs",
                "--xattrs-include=*",
                "-f",
                partial,
                "-C",
                root,
                ".",
            ]
        )
        partial.rename(cached)


def _check_host(stages: Stages) -> None:
    missing = missing_host_tools()
    if missing:
        raise ValueError("missing on this machine: " + ", ".join(missing))
    # binfmt-support registers qemu-user's handlers when its service starts; on a machine where it
    # has not (installed without a running init), register the one the build needs.
    if not Path("/proc/sys/fs/binfmt_misc/register").exists():
        stages.run(["mount", "-t", "binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc"])
    if not Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        stages.run(["update-binfmts", "--enable", "qemu-aarch64"])
    handler = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64").read_text()
    # F: the interpreter is opened now, so it runs inside a chroot that lacks it.
    if "flags: " not in handler or "F" not in handler.split("flags: ", 1)[1].split()[0]:
        raise ValueError("qemu-aarch64's binfmt handler lacks the F flag: install qemu-user-static")


@contextmanager
def _chroot_mounts(stages: Stages, root: Path) -> Iterator[None]:
    """What apt and the play need in the chroot; unmounted at the end (and gone with the
    namespace in any case). The host's resolv.conf for the archive's name meanwhile. The image's
    own /run stays: what is written there would be pending on the first boot, which
    tests/sdcard/ checks."""
    mounted: list[Path] = []
    resolv = root / "etc" / "resolv.conf"
    try:
        for fstype, source, target, extra in (
            ("proc", "proc", "proc", []),
            ("sysfs", "sysfs", "sys", []),
            (None, "/dev", "dev", ["--bind"]),
            ("devpts", "devpts", "dev/pts", ["-o", "gid=5,mode=620,ptmxmode=000"]),
        ):
            path = root / target
            path.mkdir(parents=True, exist_ok=True)
            stages.run(["mount", *(["-t", fstype] if fstype else []), *extra, source, path])
            mounted.append(path)
        resolv.unlink(missing_ok=True)
        shutil.copyfile("/etc/resolv.conf", resolv)
        # No package's maintainer script starts a daemon in the chroot.
        policy = root / "usr" / "sbin" / "policy-rc.d"
        policy.write_text("#!/bin/sh\n# appliance image build: no daemon starts in the chroot\nexit 101\n")
        policy.chmod(0o755)
        yield
    finally:
        (root / "usr" / "sbin" / "policy-rc.d").unlink(missing_ok=True)
        resolv.unlink(missing_ok=True)
        for path in reversed(mounted):
            subprocess.run(["umount", "--lazy", str(path)], check=False)


def _in_chroot(stages: Stages, root: Path, *argv: str) -> None:
    stages.run(
        [
            "chroot",
            root,
            "/usr/bin/env",
            "-i",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME=/root",
            "LC_ALL=C.UTF-8",
            "DEBIAN_FRONTEND=noninteractive",
            *argv,
        ]
    )


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _install_system(stages: Stages, root: Path, mirror: str) -> None:
    security = mirror.replace("/debian", "/debian-security") if mirror.endswith("/debian") else mirror
    _write(
        root / "etc/apt/sources.list",
        f"deb {mirror} {SUITE} main non-free-firmware\n"
        f"deb {mirror} {SUITE}-updates main non-free-firmware\n"
        f"deb {security} {SUITE}-security main non-free-firmware\n",
    )
    _write(root / "etc/hostname", "appliance\n")
    _write(root / "etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\tappliance\n::1\tlocalhost ip6-localhost\n")
    _write(
        root / "etc/fstab",
        f"LABEL={disk.ROOT_LABEL}\t/\text4\trw,errors=remount-ro\t0\t1\n"
        # nofail: a boot partition slow to appear (or gone) must not stop the boot.
        f"LABEL={disk.BOOT_LABEL}\t/boot/firmware\tvfat\trw,nofail\t0\t2\n",
    )
    _in_chroot(stages, root, "apt-get", "update", "-q")
    # Today's updates, for a base tree from the cache too.
    _in_chroot(stages, root, "apt-get", "dist-upgrade", "-q", "-y", "--no-install-recommends")
    # Its configuration first: an initramfs of the modules listed, made by the kernel's hooks only
    # (at the kernel's installation and at the end), not on every package's trigger.
    _in_chroot(stages, root, "apt-get", "install", "-q", "-y", "--no-install-recommends", "initramfs-tools")
    conf = root / "etc/initramfs-tools"
    _set_line(conf / "update-initramfs.conf", "update_initramfs", "no")
    _set_line(conf / "initramfs.conf", "MODULES", "list")
    # The root's type for the initramfs's fsck: not found by its label in a chroot.
    _set_line(conf / "initramfs.conf", "FSTYPE", "ext4")
    _write(conf / "modules", "".join(f"{module}\n" for module in INITRAMFS_MODULES))
    _in_chroot(stages, root, "apt-get", "install", "-q", "-y", "--no-install-recommends", *SYSTEM_PACKAGES)
    # The root by its label in cmdline.txt (raspi-firmware's conffile, after the package wrote it).
    _set_line(root / "etc/default/raspi-firmware", "ROOTPART", f"LABEL={disk.ROOT_LABEL}")
    # NetworkManager manages every interface (a Pi's Ethernet by DHCP, Wi-Fi from the first boot's
    # file); ifupdown is not installed.
    _write(root / "etc/NetworkManager/conf.d/appliance-managed.conf", "[ifupdown]\nmanaged=true\n")


def _set_line(path: Path, key: str, value: str) -> None:
    lines = [line for line in path.read_text().splitlines() if not line.startswith(f"{key}=")]
    path.write_text("\n".join([*lines, f"{key}={value}"]) + "\n")


def _provision(stages: Stages, source: Path, root: Path, work: Path) -> None:
    inventory = work / "inventory.yml"
    inventory.write_text(
        "appliance:\n"
        "  hosts:\n"
        "    image:\n"
        "      ansible_connection: community.general.chroot\n"
        f"      ansible_host: {root}\n"
        "      ansible_python_interpreter: /usr/bin/python3\n"
        "      appliance_image: true\n"
    )
    env = {
        "ANSIBLE_CONFIG": str(source / "ansible.cfg"),
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
    }
    stages.run(["ansible-playbook", "-i", inventory, "ansible/site.yml"], env=env, cwd=source)


def _run_kernel_hooks(stages: Stages, root: Path) -> None:
    kernels = sorted(p.name for p in (root / "lib/modules").iterdir())
    if len(kernels) != 1:
        raise ValueError(f"expected one kernel in the image, found {kernels}")
    kernel = kernels[0]
    # The kernel's hooks, as a kernel update on the Pi runs them (and will from now on):
    # initramfs-tools' makes the initramfs, raspi-firmware's (and the lirc role's after it) copy
    # the kernel, initrd and DTBs to the boot partition and write config.txt and cmdline.txt.
    _set_line(root / "etc/initramfs-tools/update-initramfs.conf", "update_initramfs", "yes")
    # DEB_MAINT_PARAMS as the kernel's postinst sets it: raspi-firmware's hook does nothing without.
    hooks = [
        "run-parts",
        "--verbose",
        "--arg",
        kernel,
        "--arg",
        f"/boot/vmlinuz-{kernel}",
        "/etc/kernel/postinst.d",
    ]
    _in_chroot(stages, root, "env", "DEB_MAINT_PARAMS=configure", *hooks)


def _remove_per_pi_state(stages: Stages, root: Path) -> None:
    _in_chroot(stages, root, "apt-get", "clean")
    # What each Pi makes for itself on its first boot, or must not share with the others.
    for pattern in (
        "etc/ssh/ssh_host_*",
        "var/lib/apt/lists/*",
        "var/log/**/*.log",
        "var/cache/debconf/*-old",
        "tmp/*",
        "var/tmp/*",
        "root/.ansible",
        "var/lib/dbus/machine-id",
        # DKMS's module signing key: DKMS makes another when it next builds a module on the Pi.
        "var/lib/dkms/mok.*",
    ):
        for path in root.glob(pattern):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
    # Empty: systemd makes a machine id of the Pi's own at its first boot.
    (root / "etc/machine-id").write_text("")
    # What the user copies to appliance.toml and fills in, on the partition any computer reads.
    example = resources.files("appliance.image").joinpath("appliance.toml.example").read_text()
    _write(root / "boot/firmware/appliance.toml.example", example)


def _installed_version(root: Path) -> str:
    found = sorted(root.glob("opt/appliance/venv/lib/python3*/site-packages/appliance-*.dist-info"))
    if len(found) != 1:
        raise ValueError(f"expected one appliance installed in the image, found {[p.name for p in found]}")
    return found[0].name.removeprefix("appliance-").removesuffix(".dist-info")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
