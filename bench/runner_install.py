#!/usr/bin/env python3
"""What a build box's runner costs: the size of its install and its idle memory.

Builds the appliance wheel from this checkout, installs it into a fresh virtual environment with
its base dependencies only (from PyPI), as a build box does, and for comparison into another with
its `server` extra, as the Pi does; prints the size of each one's site-packages. Both are made
without pip, so the figure is what the install brings (pip itself, which a venv usually holds,
adds its own). Then starts `appliance server` from this virtual environment on a free loopback
port, a runner from the build box's install against it, waits until the runner has registered and
sat idle, and prints its resident memory (VmRSS).

    .venv/bin/python bench/runner_install.py [--idle-seconds 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from support import rss_kib

from tests.harness import CI, ROOT, ApplianceServer, stop_process, wait_until

# Each install's virtual environment, and the extra it adds to the wheel.
INSTALLS = {"runner": "", "stack": "[server]"}


def build_wheel(directory: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(directory),
            str(ROOT),
        ],
        check=True,
    )
    [wheel] = directory.glob("appliance-*.whl")
    return wheel


def install(venv: Path, requirement: str) -> Path:
    """A venv without pip holding ``requirement``; its site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", requirement], check=True
    )
    [site_packages] = venv.glob("lib/python*/site-packages")
    return site_packages


def size_mib(directory: Path) -> float:
    return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file()) / 2**20


def distributions(site_packages: Path) -> list[str]:
    return sorted(path.name.removesuffix(".dist-info") for path in site_packages.glob("*.dist-info"))


def measure_runner(directory: Path, runner_venv: Path, idle_seconds: float) -> None:
    server = ApplianceServer(directory / "server")
    box_config = directory / "box.toml"
    box_config.write_text(
        f'data_dir = "{directory / "box"}"\n'
        f'[auth]\nrunner_token = "file:{server.data_dir / "secrets" / "runner-token"}"\n'
    )
    runner = None
    try:
        server.start()
        runner = subprocess.Popen(
            [str(runner_venv / "bin" / "appliance"), "runner", "--server", server.url, "--name", "box",
             "--config", str(box_config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        ci = CI(server, directory)
        wait_until(
            lambda: runner.poll() is not None or "box" in [each["name"] for each in ci.runners()],
            timeout=60,
            what="the runner to register",
        )
        if runner.poll() is not None:
            raise SystemExit(f"the runner exited with {runner.returncode}")
        time.sleep(idle_seconds)
        print(f"runner idle RSS after registering: {rss_kib(runner.pid) / 1024:.1f} MiB")
    finally:
        stop_process(runner)
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle-seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="runner-install-") as tmp:
        directory = Path(tmp)
        wheel = build_wheel(directory / "dist")
        for name, extra in INSTALLS.items():
            site_packages = install(directory / name, f"{wheel}{extra}")
            found = distributions(site_packages)
            print(f"{name} ({wheel.name}{extra}): site-packages {size_mib(site_packages):.1f} MiB")
            print(f"    {len(found)} distributions: {', '.join(found)}")
        measure_runner(directory, directory / "runner", args.idle_seconds)


if __name__ == "__main__":
    main()
