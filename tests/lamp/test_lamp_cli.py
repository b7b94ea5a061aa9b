"""`appliance lamp` without hardware: the virtual lamp, the key table, refusing unknown keys."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from appliance.cli import main
from tests.lamp.remote import COLOURS_IN_REMOTE_ORDER, REMOTE_CODES


def run(tmp_path: Path, *args: str, toml: str = '[lamp]\nbackend = "virtual"\n'):
    config = tmp_path / "appliance.toml"
    config.write_text(toml, encoding="utf-8")
    return CliRunner().invoke(main, ["lamp", *args, "--config", str(config)])


def test_set_on_the_virtual_lamp_says_only_it_changed(tmp_path):
    result = run(tmp_path, "set", "sky_blue")

    assert result.exit_code == 0, result.output
    assert "virtual: sent SKY_BLUE" in result.output
    assert "Only the virtual lamp changed" in result.output


def test_set_refuses_an_unknown_key_with_the_list_of_keys(tmp_path):
    result = run(tmp_path, "set", "MAGENTA")

    assert result.exit_code == 2
    assert (
        "unknown key 'MAGENTA'; the LED_24_KEY keys are: BRIGHT_UP, BRIGHT_DOWN, OFF, ON, RED"
        in result.output
    )
    assert "sent" not in result.output


def test_keys_lists_every_key_with_its_code(tmp_path):
    result = run(tmp_path, "keys", toml='[lamp.lirc]\nremote = "GHOST_LAMP"\n')

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("Remote GHOST_LAMP")
    assert len(lines) == 2 + 24
    assert {line.split()[0]: int(line.split()[1], 16) for line in lines[2:]} == REMOTE_CODES
    assert "RED           0x00F720DF  1.00 0.00 0.00" in lines
    assert "3_JUMP        0x00F7E817  -" in lines


def test_colour_test_on_the_virtual_lamp_cycles_the_colours_once(tmp_path):
    result = run(tmp_path, "test", "--once", "--seconds", "0.001")

    assert result.exit_code == 0, result.output
    sent = [line.split()[2].rstrip(";") for line in result.output.splitlines()]
    assert sent == ["ON", *COLOURS_IN_REMOTE_ORDER]


def test_colour_test_refuses_a_zero_interval(tmp_path):
    result = run(tmp_path, "test", "--seconds", "0")

    assert result.exit_code == 2
    assert "--seconds" in result.output
