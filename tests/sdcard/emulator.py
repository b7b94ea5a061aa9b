"""The SD card image booted in qemu-system-aarch64, as a Pi on a LAN of its own.

The ``virt`` machine, with the kernel and initrd taken from the image's boot partition (the Pi's
GPU firmware cannot be emulated), the card as a virtio disk, and user-mode networking that
reaches nothing (``restrict=on``) but forwards two loopback ports to the Pi's status page and SSH.
The benchmark (bench/image.py) uses it too.

The Pi's GPIO cannot be emulated; the machine's own GPIO controller (a PL061) stands in for it: the
device tree qemu gives the kernel gets a ``gpio-ir-tx`` node on one of its pins, as the image's
overlay adds one on the Pi's GPIO 17. So the first boot really loads the image's gpio-ir-tx module,
udev names the transmitter, and lircd sends through the kernel's driver.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from appliance.image import disk
from tests.harness import free_port

STATUS_PORT = 8080  # the base role's [server] port
MACHINE = ["-M", "virt", "-cpu", "cortex-a72", "-smp", "2"]
# The PL061's pin 3 is qemu's power button; 5 is free.
TRANSMITTER_PIN = 5


@dataclass
class EmulatedPi:
    card: Path
    work: Path
    ssh_key: Path | None = None
    ssh_user: str = "pi"
    memory_mib: int = 1024
    http_port: int = field(default_factory=free_port)
    ssh_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    started_at: float = 0.0

    @property
    def console_log(self) -> Path:
        return self.work / "console.log"

    def console(self) -> str:
        return self.console_log.read_text(errors="replace") if self.console_log.exists() else ""

    def start(self) -> None:
        lines = disk.read_boot_file(self.card, "config.txt").decode().splitlines()
        kernel = next(line.split("=", 1)[1] for line in lines if line.startswith("kernel="))
        initrd = next(line.split()[1] for line in lines if line.startswith("initramfs "))
        (self.work / "vmlinuz").write_bytes(disk.read_boot_file(self.card, kernel))
        (self.work / "initrd.img").write_bytes(disk.read_boot_file(self.card, initrd))
        device_tree = self._device_tree_with_transmitter()
        forwards = (
            f"hostfwd=tcp:127.0.0.1:{self.http_port}-:{STATUS_PORT},hostfwd=tcp:127.0.0.1:{self.ssh_port}-:22"
        )
        command = [
            "qemu-system-aarch64", *MACHINE, "-m", str(self.memory_mib), "-dtb", device_tree,
            "-kernel", self.work / "vmlinuz", "-initrd", self.work / "initrd.img",
            # net.ifnames=0: eth0, as the Pi's own Ethernet is named with Debian's kernel command line.
            "-append", "root=LABEL=RASPIROOT rw console=ttyAMA0 net.ifnames=0",
            "-drive", f"file={self.card},format=raw,if=virtio",
            "-netdev", f"user,id=lan,restrict=on,{forwards}", "-device", "virtio-net-pci,netdev=lan",
            "-display", "none", "-monitor", "none", "-serial", f"file:{self.console_log}",
        ]  # fmt: skip
        self.started_at = time.monotonic()
        with (self.work / "qemu.err").open("wb") as errors:
            self.process = subprocess.Popen(
                [str(part) for part in command], stdin=subprocess.DEVNULL, stderr=errors
            )

    def _device_tree_with_transmitter(self) -> Path:
        tree = self.work / "virt.dtb"
        dump = ["qemu-system-aarch64", *MACHINE, "-m", str(self.memory_mib), "-M", f"virt,dumpdtb={tree}"]
        subprocess.run([*dump, "-display", "none"], check=True, capture_output=True)
        (gpio,) = [n for n in _fdt(["fdtget", "-l", tree, "/"]).split() if n.startswith("pl061@")]
        phandle = _fdt(["fdtget", "-t", "u", tree, f"/{gpio}", "phandle"]).strip()
        node = "/gpio-ir-transmitter"
        _fdt(["fdtput", "-c", tree, node])
        _fdt(["fdtput", "-t", "s", tree, node, "compatible", "gpio-ir-tx"])
        _fdt(["fdtput", "-t", "u", tree, node, "gpios", phandle, str(TRANSMITTER_PIN), "0"])
        return tree

    def get(self, path: str, timeout: float = 10) -> tuple[int, object]:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as answer:
                return answer.status, json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def wait_for_healthz(self, give_up_after: float, booted_after: float | None = None) -> float:
        """Seconds from qemu's start until /healthz answered ok (from a server started after
        ``booted_after``, a ``time.monotonic()``, when given); fails with the console's end."""
        deadline = time.monotonic() + give_up_after
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"qemu exited ({self.process.returncode}); console:\n{self.console()[-4000:]}"
                )
            try:
                status, body = self.get("/healthz", timeout=5)
            except (OSError, ValueError):
                status, body = 0, None
            if status == 200 and body.get("ok"):
                fresh = booted_after is None or body["uptime_seconds"] < time.monotonic() - booted_after
                if fresh:
                    return time.monotonic() - self.started_at
            time.sleep(2)
        raise TimeoutError(f"no /healthz after {give_up_after} s; console:\n{self.console()[-4000:]}")

    def ssh_reboot(self) -> float:
        """Reboot the Pi; returns when it was asked (``time.monotonic()``)."""
        asked = time.monotonic()
        self.ssh("sudo -n systemctl reboot", check=False)
        return asked

    def ssh(self, command: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ssh", "-i", str(self.ssh_key), "-p", str(self.ssh_port), "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=20",
             "-o", "LogLevel=ERROR", f"{self.ssh_user}@127.0.0.1", command],
            capture_output=True, text=True, timeout=300, check=check,
        )  # fmt: skip

    def wait_for_exit(self, give_up_after: float) -> int:
        return self.process.wait(timeout=give_up_after)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _fdt(argv: list) -> str:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=True).stdout
