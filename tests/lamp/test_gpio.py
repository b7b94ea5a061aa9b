"""The RGB LED backend on gpiozero's mock PWM pins: the pins carry the colour of each key."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from gpiozero import Device

from appliance.lamp.backends import GpioBackend, LampError, backends_from_config
from appliance.lamp.driver import LampDriver
from appliance.lamp.keys import KEY_RGB
from appliance.lamp.settings import GpioLampConfig, LampConfig

RED_PIN, GREEN_PIN, BLUE_PIN = 22, 27, 24


@pytest.fixture
def pins(monkeypatch) -> Iterator[Callable[[], tuple[float, float, float]]]:
    """Mock PWM pins for every device made in the test; returns the (red, green, blue) levels."""
    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    monkeypatch.setenv("GPIOZERO_MOCK_PIN_CLASS", "mockpwmpin")
    yield lambda: tuple(Device.pin_factory.pin(pin).state for pin in (RED_PIN, GREEN_PIN, BLUE_PIN))
    if Device.pin_factory is not None:
        Device.pin_factory.reset()
        Device.pin_factory.close()


@pytest.fixture
def led(pins) -> Iterator[GpioBackend]:
    backend = GpioBackend(RED_PIN, GREEN_PIN, BLUE_PIN)
    yield backend
    backend.close()


def test_gpiozero_is_not_touched_before_the_first_send(pins):
    backend = GpioBackend(RED_PIN, GREEN_PIN, BLUE_PIN)

    assert Device.pin_factory is None
    assert backend.describe() == "RGB LED on GPIO 22/27/24 (red/green/blue)"


@pytest.mark.parametrize(
    ("key", "levels"), [("RED", (1, 0, 0)), ("GREEN", (0, 1, 0)), ("BLUE", (0, 0, 1)), ("WHITE", (1, 1, 1))]
)
def test_primary_colours_land_on_their_pins(led, pins, key, levels):
    led.send(key)

    assert pins() == levels


def test_every_colour_key_shows_its_rgb_value(led, pins):
    for key, rgb in KEY_RGB.items():
        led.send(key)
        assert pins() == pytest.approx(rgb), key


def test_off_darkens_on_restores_and_effects_leave_the_colour(led, pins):
    led.send("PURPLE")
    led.send("OFF")
    assert pins() == (0, 0, 0)

    led.send("ON")
    assert pins() == pytest.approx(KEY_RGB["PURPLE"])

    led.send("ALL_FADE")
    led.send("BRIGHT_UP")
    assert pins() == pytest.approx(KEY_RGB["PURPLE"])


def test_a_common_anode_led_gets_inverted_levels(pins):
    backend = backends_from_config(LampConfig(backend="gpio", gpio=GpioLampConfig(active_high=False)))[0]
    try:
        backend.send("RED")
        assert pins() == (0, 1, 1)
    finally:
        backend.close()


def test_an_unknown_key_is_refused_and_the_led_unchanged(led, pins):
    led.send("GREEN")

    with pytest.raises(LampError, match="unknown key 'MAGENTA'"):
        led.send("MAGENTA")
    assert pins() == (0, 1, 0)


def test_a_pin_used_twice_is_a_lamp_error_naming_the_pins(pins):
    backend = GpioBackend(RED_PIN, RED_PIN, BLUE_PIN)

    with pytest.raises(LampError, match=r"GPIO 22/22/24: GPIOPinInUse"):
        backend.send("RED")


def test_the_driver_follows_the_monitor_on_the_led(led, pins):
    driver = LampDriver([led], resend_seconds=300, clock=lambda: 0.0)

    driver.show("ORANGE")
    assert pins() == pytest.approx(KEY_RGB["ORANGE"])
    driver.show("CYAN")
    assert pins() == (0, 1, 1)
    assert driver.status()["backends"] == [
        {"name": "gpio", "ok": True, "error": None, "detail": "RGB LED on GPIO 22/27/24 (red/green/blue)"}
    ]
