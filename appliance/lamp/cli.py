"""``appliance lamp``: set a colour by hand, run the colour test, list the remote's keys."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

import click

from appliance.commandline import with_config
from appliance.config import Config
from appliance.lamp.backends import Backend, LampError, backends_from_config, check_key, send_to_each
from appliance.lamp.keys import CODES, COLOUR_KEYS, KEY_RGB

FAILED_EXIT = 1


def _known_key(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """The key in the remote's spelling, whatever the case; a key it lacks is a usage error
    (exit 2) listing the keys, before any backend is touched."""
    key = value.upper()
    try:
        check_key(key)
    except LampError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    return key


@click.group("lamp")
def lamp_group() -> None:
    """Drive the lamp by hand: set a colour, run the colour test, list the keys."""


@lamp_group.command("set")
@click.argument("key", metavar="COLOUR", callback=_known_key)
@with_config
def lamp_set(config: Config, key: str) -> None:
    """Send one key of the remote (RED, ON, OFF...) to every backend of [lamp] backend."""
    backends = backends_from_config(config.lamp)
    try:
        failed = _send_and_tell(backends, key)
    finally:
        _close(backends)
    if all(backend.name == "virtual" for backend in backends):
        click.echo(
            "Only the virtual lamp changed: [lamp] backend names no hardware "
            '(set it to "lirc" or "gpio" to drive a real lamp).'
        )
    if failed:
        sys.exit(FAILED_EXIT)


@lamp_group.command("test")
@click.option("--once", is_flag=True, help="Stop after one cycle (else run until Ctrl-C).")
@click.option(
    "--seconds", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
    help="How long each colour stays on.",
)  # fmt: skip
@with_config
def lamp_test(config: Config, once: bool, seconds: float) -> None:
    """The colour test: ON, then every colour key in turn, to check the lamp sees them all."""
    backends = backends_from_config(config.lamp)
    stop = threading.Event()
    try:
        failed = colour_test(backends, seconds, stop, cycles=1 if once else None)
    except KeyboardInterrupt:
        failed = False
        click.echo("Stopped.")
    finally:
        _close(backends)
    if failed:
        sys.exit(FAILED_EXIT)


@lamp_group.command("keys")
@with_config
def lamp_keys(config: Config) -> None:
    """List the remote's keys with the NEC code lircd sends and the RGB LED's colour."""
    click.echo(f"Remote {config.lamp.lirc.remote} ([lamp.lirc] remote); RGB is what the RGB LED shows.")
    click.echo(f"{'KEY':<14}{'CODE':<12}RGB")
    for key, code in CODES.items():
        rgb = " ".join(f"{part:.2f}" for part in KEY_RGB[key]) if key in KEY_RGB else "-"
        click.echo(f"{key:<14}0x{code:08X}  {rgb}")


def colour_test(
    backends: Sequence[Backend], seconds: float, stop: threading.Event, cycles: int | None = None
) -> bool:
    """ON, then each colour key for ``seconds``, for ``cycles`` cycles (None: until ``stop``).
    True when some send failed."""
    failed = _send_and_tell(backends, "ON")
    cycle = 0
    while cycles is None or cycle < cycles:
        for key in COLOUR_KEYS:
            failed = _send_and_tell(backends, key) or failed
            if stop.wait(seconds):
                return failed
        cycle += 1
    return failed


def _send_and_tell(backends: Sequence[Backend], key: str) -> bool:
    """Send ``key`` to each backend and say how it went; True when one failed."""
    failed = False
    for backend, error in send_to_each(backends, key):
        if error is None:
            click.echo(f"{backend.name}: sent {key}; {backend.describe()}")
        else:
            click.echo(f"{backend.name}: FAILED to send {key}: {error}", err=True)
            failed = True
    return failed


def _close(backends: Sequence[Backend]) -> None:
    for backend in backends:
        backend.close()
