"""What shows the lamp's colour: the IR lamp through lircd, a wired RGB LED, or nothing but the page.

Every backend has the same two calls: ``send(key)``, which raises LampError with a message a
user can act on, and ``describe()``, one line for the status page. Several backends can run at
once; each one fails on its own.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from appliance.lamp.keys import CODES, KEY_RGB, REMOTE
from appliance.lamp.settings import LampConfig

IRSEND_TIMEOUT_SECONDS = 5.0


class LampError(Exception):
    """A key that could not be sent; the message says why (never anything secret)."""


def check_key(key: str) -> None:
    if key not in CODES:
        raise LampError(f"unknown key {key!r}; the {REMOTE} keys are: {', '.join(CODES)}")


class Backend:
    name = "backend"

    def send(self, key: str) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the backend holds (GPIO pins); it may be used again afterwards."""


class LircBackend(Backend):
    """The IR lamp: ``irsend SEND_ONCE`` through lircd, which owns the IR LED."""

    name = "lirc"

    def __init__(self, socket: Path, remote: str = REMOTE):
        self.socket = socket
        self.remote = remote

    def send(self, key: str) -> None:
        check_key(key)
        command = ["irsend", f"--device={self.socket}", "SEND_ONCE", self.remote, key]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=IRSEND_TIMEOUT_SECONDS)
        except FileNotFoundError:
            raise LampError("irsend is not installed (Debian package lirc)") from None
        except subprocess.TimeoutExpired:
            raise LampError(
                f"irsend {key} got no answer from lircd on {self.socket} in {IRSEND_TIMEOUT_SECONDS:g} s"
            ) from None
        if result.returncode != 0:
            said = " ".join(line.strip() for line in (result.stdout + result.stderr).splitlines() if line)
            raise LampError(f"irsend {key} via {self.socket} failed (exit {result.returncode}): {said}")

    def describe(self) -> str:
        return f"IR lamp: irsend SEND_ONCE {self.remote} via lircd on {self.socket}"


class GpioBackend(Backend):
    """A wired RGB LED; gpiozero is imported on the first send, as it is heavy and needs pins."""

    name = "gpio"

    def __init__(self, red_pin: int, green_pin: int, blue_pin: int, active_high: bool = True):
        self.pins = (red_pin, green_pin, blue_pin)
        self.active_high = active_high
        self._led: Any = None
        self._last_colour = KEY_RGB["WHITE"]

    def send(self, key: str) -> None:
        check_key(key)
        if key == "ON":
            self._show(self._last_colour)
        elif key in KEY_RGB:
            self._show(KEY_RGB[key])
            if key != "OFF":
                self._last_colour = KEY_RGB[key]
        # The brightness keys and the effects have no steady colour: the LED stays as it is.

    def _show(self, colour: tuple[float, float, float]) -> None:
        try:
            if self._led is None:
                from gpiozero import RGBLED

                self._led = RGBLED(*self.pins, active_high=self.active_high, pwm=True)
            self._led.color = colour
        except Exception as exc:  # gpiozero raises many kinds: no pin factory, pin in use, OSError
            raise LampError(f"RGB LED on GPIO {self._pin_text()}: {type(exc).__name__}: {exc}") from exc

    def _pin_text(self) -> str:
        return "/".join(str(pin) for pin in self.pins)

    def describe(self) -> str:
        return f"RGB LED on GPIO {self._pin_text()} (red/green/blue)"

    def close(self) -> None:
        if self._led is not None:
            self._led.close()
            self._led = None


class VirtualBackend(Backend):
    """No hardware: keeps the key so that the status page can show it."""

    name = "virtual"

    def __init__(self) -> None:
        self.key: str | None = None

    def send(self, key: str) -> None:
        check_key(key)
        self.key = key

    def describe(self) -> str:
        return f"virtual lamp (no hardware), showing {self.key or 'nothing yet'}"


def backends_from_config(config: LampConfig) -> list[Backend]:
    """The backends ``[lamp] backend`` names, in that order."""
    names = [config.backend] if isinstance(config.backend, str) else config.backend
    gpio = config.gpio
    makers = {
        "lirc": lambda: LircBackend(config.lirc.socket, config.lirc.remote),
        "gpio": lambda: GpioBackend(gpio.red_pin, gpio.green_pin, gpio.blue_pin, gpio.active_high),
        "virtual": VirtualBackend,
    }
    return [makers[name]() for name in names]


def send_to_each(backends: Sequence[Backend], key: str) -> list[tuple[Backend, LampError | None]]:
    """Send ``key`` to every backend; one failing does not stop the others."""
    outcomes: list[tuple[Backend, LampError | None]] = []
    for backend in backends:
        try:
            backend.send(key)
        except LampError as exc:
            outcomes.append((backend, exc))
        else:
            outcomes.append((backend, None))
    return outcomes
