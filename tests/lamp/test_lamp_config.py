"""The [lamp] settings: defaults, one backend or several, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance import config as config_module
from appliance.config import Config, ConfigError
from appliance.lamp.backends import GpioBackend, LircBackend, VirtualBackend, backends_from_config
from appliance.lamp.settings import LampConfig


def load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return config_module.load(path)


def test_defaults_are_the_virtual_lamp_and_the_documented_pins():
    lamp = LampConfig()

    assert lamp.backend == "virtual"
    assert lamp.resend_seconds == 300
    assert lamp.lirc.socket == Path("/var/run/lirc/lircd")
    assert lamp.lirc.remote == "LED_24_KEY"
    assert (lamp.gpio.red_pin, lamp.gpio.green_pin, lamp.gpio.blue_pin) == (22, 27, 24)
    assert lamp.gpio.active_high is True
    assert [type(b) for b in backends_from_config(lamp)] == [VirtualBackend]


def test_one_name_or_a_list_of_backends(tmp_path):
    single = load(tmp_path, '[lamp]\nbackend = "lirc"\n[lamp.lirc]\nsocket = "/run/lirc/lircd"\n')
    several = load(
        tmp_path, '[lamp]\nbackend = ["gpio", "lirc"]\nresend_seconds = 60\n[lamp.gpio]\nred_pin = 5\n'
    )

    (lirc,) = backends_from_config(single.lamp)
    assert isinstance(lirc, LircBackend)
    assert lirc.socket == Path("/run/lirc/lircd")
    gpio, lirc = backends_from_config(several.lamp)
    assert isinstance(gpio, GpioBackend)
    assert isinstance(lirc, LircBackend)
    assert gpio.pins == (5, 27, 24)
    assert several.lamp.resend_seconds == 60


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[lamp]\nbackend = "ir"\n', "lamp.backend: unknown backend 'ir' (known: lirc, gpio, virtual)"),
        ('[lamp]\nbackend = ["lirc", "led"]\n', "lamp.backend: unknown backend 'led'"),
        ("[lamp]\nbackend = []\n", "lamp.backend: must name at least one backend"),
        ('[lamp]\nbackend = ["lirc", "lirc"]\n', "lamp.backend: names a backend twice"),
        ("[lamp]\nbackend = 3\n", "lamp.backend: expected a string or a list of a string, got 3"),
        (
            "[lamp.gpio]\nred_pin = 40\n",
            "lamp.gpio.red_pin: must be a BCM GPIO number between 0 and 27, got 40",
        ),
        ('[lamp.gpio]\nblue_pin = "GPIO24"\n', "lamp.gpio.blue_pin: expected an integer"),
        ("[lamp]\nresend_seconds = 0\n", "lamp.resend_seconds: must be greater than 0"),
        (
            '[lamp.lirc]\ndevice = "/dev/lirc0"\n',
            "lamp.lirc.device: unknown key (known keys here: remote, socket)",
        ),
    ],
)
def test_a_bad_lamp_setting_names_the_key(tmp_path, text, expected):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)

    assert expected in str(raised.value)
