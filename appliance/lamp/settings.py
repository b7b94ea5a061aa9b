"""The `[lamp]` section: which backends show the colour, and how often it is re-sent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from appliance.schema import positive, section, setting

LAMP_BACKENDS = ("lirc", "gpio", "virtual")


def lamp_backend_names(value: str | list[str]) -> str | None:
    names = [value] if isinstance(value, str) else value
    unknown = [name for name in names if name not in LAMP_BACKENDS]
    if unknown:
        return f"unknown backend {', '.join(map(repr, unknown))} (known: {', '.join(LAMP_BACKENDS)})"
    if not names:
        return "must name at least one backend"
    if len(set(names)) != len(names):
        return "names a backend twice"
    return None


def gpio_pin(value: int) -> str | None:
    return None if 0 <= value <= 27 else "must be a BCM GPIO number between 0 and 27"


@dataclass(frozen=True)
class LircLampConfig:
    socket: Path = setting(Path("/var/run/lirc/lircd"), "Unix socket of lircd, passed to `irsend --device`.")
    remote: str = setting("LED_24_KEY", "Name of the remote in lircd's configuration (`lircd.conf`).")


@dataclass(frozen=True)
class GpioLampConfig:
    red_pin: int = setting(22, "BCM GPIO number of the RGB LED's red leg (17 is the IR LED's).", gpio_pin)
    green_pin: int = setting(27, "BCM GPIO number of the RGB LED's green leg.", gpio_pin)
    blue_pin: int = setting(24, "BCM GPIO number of the RGB LED's blue leg.", gpio_pin)
    active_high: bool = setting(True, "true for a common-cathode LED, false for a common-anode one.")


@dataclass(frozen=True)
class LampConfig:
    backend: str | list[str] = setting(
        "virtual",
        'What shows the colour: "lirc" (the IR lamp through lircd), "gpio" (a wired RGB LED), '
        '"virtual" (only the status page), or a list of them, e.g. ["lirc", "gpio"].',
        lamp_backend_names,
    )
    resend_seconds: float = setting(
        300.0, "Re-send the current colour this often, for a lamp that was power-cycled.", positive
    )
    lirc: LircLampConfig = section(LircLampConfig, "The IR lamp, driven through lircd and irsend.")
    gpio: GpioLampConfig = section(GpioLampConfig, "A wired RGB LED driven by gpiozero.")
