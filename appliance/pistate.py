"""The Pi's own state as notices for the status page, each with what to do: a reboot that
provisioning recorded, a lamp backend that cannot send, a disk nearly full, a clock not
synchronised, programs of the stack that do not run (or a supervisord that does not answer).

Each check reads what the system already says (files in /run, the monitor's report, supervisord's
answer, ``statvfs``), never runs a command, and is bounded: files are read up to a few KiB, and at
most ``MAX_NOTICES`` notices are made. The system's paths are parameters (``SystemFiles``) so that
tests give real files of their own; the server uses the defaults.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.notices import read_head

MAX_NOTICES = 12
MAX_FILE_BYTES = 4096
MAX_PACKAGES = 20
MAX_TEXT = 300  # characters of an error or description shown in a notice
# Debian's update-notifier writes this line into /run/reboot-required; it says nothing the title
# does not.
REBOOT_HEADER = "*** System restart required ***"

log = logging.getLogger(__name__)

Notice = dict[str, str]


@dataclass(frozen=True)
class SystemFiles:
    """Where the system says what it knows."""

    # Debian's convention: present once something needs a reboot; the Ansible lirc role writes
    # why into it, and the packages (``lirc``) into the second file, one a line.
    reboot_required: Path = Path("/run/reboot-required")
    reboot_packages: Path = Path("/run/reboot-required.pkgs")
    # systemd-timesyncd's state directory; it creates ``synchronized`` there once synchronised.
    timesync_dir: Path = Path("/run/systemd/timesync")


def notice(title: str, message: str, action: str) -> Notice:
    return {"title": title, "message": message, "action": action}


def system_notices(
    *,
    report: Mapping[str, Any] | None,
    stack: Mapping[str, Any],
    data_dir: Path,
    disk_warning_percent: int,
    files: SystemFiles = SystemFiles(),
) -> list[Notice]:
    """Every notice of the Pi's state, at most ``MAX_NOTICES``. ``report`` is the latest monitor
    report's JSON (None before the first), ``stack`` ``appliance.stack.stack_state()``."""
    found = [
        *reboot_notices(files.reboot_required, files.reboot_packages),
        *lamp_notices(report),
        *disk_notices(data_dir, disk_warning_percent),
        *clock_notices(files.timesync_dir),
        # Last: one per program, and a stack has as many runners as configured.
        *stack_notices(stack),
    ]
    if len(found) > MAX_NOTICES:
        log.warning("%d notices of the Pi's state, showing the first %d", len(found), MAX_NOTICES)
    return found[:MAX_NOTICES]


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _lines(path: Path) -> tuple[list[str], bool]:
    """The non-blank lines of the start of a small text file, and whether the file goes on
    beyond; none when it cannot be read (then no reason is given, the notice stays)."""
    try:
        data = read_head(path, MAX_FILE_BYTES + 1)
    except (OSError, ValueError):
        return [], False
    cut = len(data) > MAX_FILE_BYTES
    lines = data[:MAX_FILE_BYTES].decode("utf-8", errors="replace").splitlines()
    if cut:
        lines = lines[:-1]  # the last one may be a part of a line
    return [line.strip() for line in lines if line.strip()], cut


def reboot_notices(flag: Path, packages: Path) -> list[Notice]:
    """A reboot the system recorded, with the reason written into the flag and the packages that
    asked for it."""
    if not flag.exists():
        return []
    reason = " ".join(line for line in _lines(flag)[0] if line != REBOOT_HEADER)
    listed, cut = _lines(packages)
    names = list(dict.fromkeys(listed))  # the role adds its line once; others may not
    parts = ["Something installed or changed takes effect only after a reboot."]
    if reason:
        parts.append(_shorten(reason))
    if names:
        more = len(names) - MAX_PACKAGES
        shown = ", ".join(names[:MAX_PACKAGES])
        if cut:
            shown += " and more"
        elif more > 0:
            shown += f" and {more} more"
        parts.append(f"Asked for by: {_shorten(shown)}.")
    return [
        notice(
            "The Pi needs a reboot",
            " ".join(parts),
            "Reboot it when a moment without the lamp suits you: sudo systemctl reboot. The stack "
            "starts again by itself.",
        )
    ]


# What to check for each kind of lamp backend (appliance/lamp/backends.py).
BACKEND_ACTIONS = {
    "lirc": "Check that lircd runs (systemctl status lircd) and the IR transmitter is wired and its "
    "overlay is in config.txt (see docs/lamp.md). The monitor retries by itself.",
    "gpio": "Check the LED's wiring and the pins in [lamp.gpio] (see docs/lamp.md). The monitor "
    "retries by itself.",
}
DEFAULT_BACKEND_ACTION = "See the monitor's log for the reason. The monitor retries by itself."


def lamp_notices(report: Mapping[str, Any] | None) -> list[Notice]:
    """A notice per lamp backend the latest report says cannot send. The driver's object is the
    monitor's own, unchecked by the server: anything of another shape is left out."""
    driver = report.get("driver") if report else None
    backends = driver.get("backends") if isinstance(driver, Mapping) else None
    found = []
    for backend in backends if isinstance(backends, list) else []:
        if not isinstance(backend, Mapping) or backend.get("ok") is not False:
            continue
        name, error = backend.get("name"), backend.get("error")
        name = name if isinstance(name, str) and name else "a backend"
        error = error if isinstance(error, str) and error else "It reports a failure without a reason."
        found.append(
            notice(
                f"The lamp cannot send through {_shorten(name)}",
                _shorten(error),
                BACKEND_ACTIONS.get(name, DEFAULT_BACKEND_ACTION),
            )
        )
    return found


def stack_notices(stack: Mapping[str, Any]) -> list[Notice]:
    """Programs of the stack that do not run; or one notice that supervisord does not answer, in
    which case nothing is known of the programs."""
    if not stack["reachable"]:
        return [
            notice(
                "supervisord is not reachable",
                # The error names the socket.
                f"{_shorten(str(stack['error']))}. The stack's programs cannot be seen or "
                "restarted from here.",
                "On a Pi: sudo systemctl start supervisor. On a development machine: appliance stack up.",
            )
        ]
    return [
        notice(
            f"{program['name']} is {program['state']}",
            _shorten(program["description"] or "supervisord gives no description.")
            + " Its part of the appliance does not work until it runs.",
            f"supervisorctl tail {program['name']} shows its output; supervisorctl start "
            f"{program['name']} starts it (with sudo on a Pi).",
        )
        for program in stack["programs"]
        if program["state"] != "RUNNING"
    ]


def disk_notices(directory: Path, warning_percent: int) -> list[Notice]:
    """The filesystem of ``directory`` (the data directory) at or over ``warning_percent`` full,
    counted as ``df`` does (the root's reserve is not free for the appliance)."""
    try:
        fs = os.statvfs(directory)
    except OSError:
        return []
    used = fs.f_blocks - fs.f_bfree
    usable = used + fs.f_bavail
    if usable <= 0:
        return []
    percent = rounded_up_percent(used, usable)
    if percent < warning_percent:
        return []
    free_mib = fs.f_bavail * fs.f_frsize // (1024 * 1024)
    return [
        notice(
            f"The disk is {percent}% full",
            f"{free_mib} MiB free on the filesystem of {directory}. When it is full the database "
            "stops taking builds and test reports, and logs are lost.",
            "Free space: sudo apt-get clean, sudo journalctl --vacuum-size=50M, remove old files "
            "from the data directory's ci/ workspaces; or move the data to a larger card. The "
            "threshold is [server] disk_warning_percent.",
        )
    ]


def rounded_up_percent(part: int, whole: int) -> int:
    """``part`` of ``whole`` in whole percent, rounded up as ``df`` rounds."""
    return -(-part * 100 // whole)


def clock_notices(timesync_dir: Path) -> list[Notice]:
    """The clock not synchronised yet, where systemd-timesyncd keeps it (elsewhere another NTP
    daemon does, and its state is not known here, so nothing is said)."""
    if not timesync_dir.is_dir() or (timesync_dir / "synchronized").exists():
        return []
    return [
        notice(
            "The clock is not synchronised",
            "The Pi has no battery-backed clock: until systemd-timesyncd reaches a time server, "
            'its time may be hours or days behind, and build times, durations and "since" shown '
            "here are wrong.",
            "Let the Pi reach an NTP server (UDP port 123), or name one in NTP= of "
            "/etc/systemd/timesyncd.conf; timedatectl timesync-status shows what it tries.",
        )
    ]
