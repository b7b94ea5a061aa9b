#!/usr/bin/env python3
"""The SD card image's figures: its build time, its size raw and compressed, the time from power
on to a good /healthz under emulation (first boot included), and the stack's idle memory in it.

Boots a copy of the image (on a 4 GiB card) in qemu-system-aarch64 as tests/sdcard/ does, with a
first-boot file that only adds an SSH user, waits for /healthz, lets the Pi idle, then reads over
SSH the proportional set size (PSS) of supervisord and the appliance's programs, lircd's, and
`free`'s used memory. As root, after `make image` (or with --build, which builds it first).

    sudo .venv/bin/python bench/image.py [--image build/image/X.img.xz] [--build] [--idle-seconds 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from appliance.image import disk
from tests.sdcard.emulator import EmulatedPi

ROOT = Path(__file__).resolve().parent.parent

# The stack's processes: supervisord's and those it runs as the appliance's user, and lircd.
MEMORY_SCRIPT = r"""
total=0
for pid in $(pgrep -x supervisord) $(pgrep -u appliance) $(pgrep -x lircd); do
  pss=$(awk '/^Pss:/ {print $2}' /proc/$pid/smaps_rollup 2>/dev/null) || continue
  printf '%s %s %s\n' "$pid" "${pss:-0}" "$(tr '\0' ' ' < /proc/$pid/cmdline | cut -c1-80)"
done
"""


def build_image() -> tuple[Path, float]:
    env = {**os.environ, "PATH": f"{ROOT / '.venv-ansible' / 'bin'}:{os.environ['PATH']}"}
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "appliance", "image", "build"],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
    )
    return Path(out.stdout.decode().splitlines()[0]), time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", type=Path, help="the .img.xz (default: the newest in build/image)")
    parser.add_argument("--build", action="store_true", help="build the image first, and time it")
    parser.add_argument("--idle-seconds", type=float, default=60)
    args = parser.parse_args()
    if args.build:
        image, seconds = build_image()
        print(f"build: {seconds:.0f} s")
    else:
        image = args.image or max((ROOT / "build/image").glob("*.img.xz"), key=lambda p: p.stat().st_mtime)
        logs = sorted(image.parent.glob(image.name.removesuffix(".img.xz") + ".build.log"))
        for line in logs[0].read_text().splitlines() if logs else []:
            if line.startswith("built "):
                print(f"build (from its log): {line.split(' in ', 1)[1]}")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as work_dir:
        work = Path(work_dir)
        card = work / "card.img"
        with card.open("wb") as out:
            subprocess.run(["xz", "-dc", "--threads=0", str(image)], stdout=out, check=True)
        raw = card.stat().st_size
        print(f"image: {raw / 2**20:.0f} MiB raw, {image.stat().st_size / 2**20:.0f} MiB compressed (xz)")
        boot, root = disk.partitions(card)
        print(f"partitions: boot {boot.size / 2**20:.0f} MiB, root {root.size / 2**20:.0f} MiB")
        with card.open("r+b") as f:
            f.truncate(4 * 2**30)
        key = work / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        public = key.with_suffix(".pub").read_text().strip()
        first_boot = f'[pi.ssh]\nuser = "bench"\nauthorized_keys = ["{public}"]\n'
        disk.write_boot_file(card, "appliance.toml", first_boot.encode())
        pi = EmulatedPi(card, work, ssh_key=key, ssh_user="bench")
        pi.start()
        try:
            seconds = pi.wait_for_healthz(1800)
            print(f"power on to /healthz (first boot, emulated Cortex-A72 x2, 1 GiB): {seconds:.0f} s")
            time.sleep(args.idle_seconds)
            rows = pi.ssh(f"sudo -n sh -c {_quote(MEMORY_SCRIPT)}").stdout.splitlines()
            total = 0
            for row in rows:
                _pid, pss, command = row.split(" ", 2)
                total += int(pss)
                print(f"  {int(pss) / 1024:6.1f} MiB  {command}")
            print(f"stack idle memory (PSS, after {args.idle_seconds:.0f} s): {total / 1024:.0f} MiB")
            print("free -m on the Pi:\n" + pi.ssh("free -m").stdout)
            pi.ssh("sudo -n systemctl poweroff", check=False)
            pi.wait_for_exit(600)
        finally:
            pi.kill()


def _quote(script: str) -> str:
    return "'" + script.replace("'", "'\\''") + "'"


if __name__ == "__main__":
    main()
