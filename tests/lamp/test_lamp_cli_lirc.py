"""`appliance lamp` against a real lircd: the frames it records, decoded, are the remote's codes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import APPLIANCE
from tests.lamp.remote import COLOURS_IN_REMOTE_ORDER, REMOTE_CODES

pytestmark = pytest.mark.slow


def lamp(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [APPLIANCE, "lamp", *args, "--config", str(config)], capture_output=True, text=True, timeout=60
    )


@pytest.fixture
def lirc_config(tmp_path: Path, lircd) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(f'[lamp]\nbackend = "lirc"\n\n[lamp.lirc]\nsocket = "{lircd.socket}"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("key", list(REMOTE_CODES))
def test_set_sends_the_remote_code_of_each_key(lircd, lirc_config, key):
    result = lamp(lirc_config, "set", key.lower())

    assert result.returncode == 0, result.stderr
    assert lircd.codes() == [REMOTE_CODES[key]]
    assert f"lirc: sent {key}" in result.stdout


def test_set_refuses_an_unknown_key_before_sending_anything(lircd, lirc_config):
    result = lamp(lirc_config, "set", "NOPE")

    assert result.returncode == 2
    assert "'NOPE'" in result.stderr
    for key in REMOTE_CODES:
        assert key in result.stderr
    assert lircd.codes() == []


def test_colour_test_once_sends_on_then_every_colour_in_order(lircd, lirc_config):
    result = lamp(lirc_config, "test", "--once", "--seconds", "0.01")

    assert result.returncode == 0, result.stderr
    assert lircd.codes() == [REMOTE_CODES[key] for key in ["ON", *COLOURS_IN_REMOTE_ORDER]]


def test_set_without_lircd_fails_with_the_reason(lircd, lirc_config):
    lircd.stop()

    result = lamp(lirc_config, "set", "RED")

    assert result.returncode == 1
    assert "lirc: FAILED to send RED" in result.stderr
    assert str(lircd.socket) in result.stderr


def test_a_failing_backend_does_not_stop_the_others(tmp_path, lircd):
    config = tmp_path / "two.toml"
    config.write_text(
        f'[lamp]\nbackend = ["lirc", "virtual"]\n\n'
        f'[lamp.lirc]\nsocket = "{lircd.socket}"\nremote = "NO_SUCH"\n',
        encoding="utf-8",
    )

    result = lamp(config, "set", "RED")

    assert result.returncode == 1
    assert 'unknown remote: "NO_SUCH"' in result.stderr
    assert "virtual: sent RED" in result.stdout
    assert lircd.codes() == []
