"""``appliance monitor`` as a program: the seed's flags, a real lircd lamp, a real server."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from appliance.lamp.keys import CODES
from tests.conftest import APPLIANCE, http_json, wait_until, write_config
from tests.monitor import octopus_fake as octopus

pytestmark = pytest.mark.slow


def lamp_keys(lircd) -> list[str]:
    names = {code: key for key, code in CODES.items()}
    return [names[code] for code in lircd.codes()]


@pytest.fixture
def monitor_process(tmp_path, fake, lircd, appliance_server):
    """``appliance monitor`` with the seed's flags; a config file only for the lamp and the server."""
    config = write_config(
        tmp_path / "monitor.toml",
        appliance_server.data_dir,
        appliance_server.port,
        f'\n[lamp]\nbackend = "lirc"\n\n[lamp.lirc]\nsocket = "{lircd.socket}"\n',
    )
    log = tmp_path / "monitor.log"
    command = [
        APPLIANCE, "monitor", "--config", str(config),
        "--octopus-url", fake.url + "/", "--octopus-space", octopus.SPACE,
        "--octopus-project", octopus.PROJECT, "--octopus-environment", octopus.ENVIRONMENT,
        "--frequency", "0.1",
    ]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=output, env={**os.environ, "OCTOPUS_API_KEY": octopus.API_KEY}
        )
    process.log = log
    yield process
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def test_a_scripted_test_failure_leaves_lircd_as_a_red_frame(monitor_process, fake, lircd, appliance_server):
    octopus.deployment(fake, "Executing", ("Success", "Success", "Running"))
    wait_until(lambda: lamp_keys(lircd)[-1:] == ["DARK_BLUE"], what="DARK_BLUE (testing) sent through lircd")
    assert lamp_keys(lircd) == ["ON", "DARK_BLUE"]
    octopus.deployment(fake, "Failed", ("Success", "Success", "Failed"))
    wait_until(lambda: lamp_keys(lircd)[-1:] == ["RED"], what="RED (tests failed) sent through lircd")
    assert lamp_keys(lircd) == ["ON", "DARK_BLUE", "RED"]
    assert lircd.codes()[-1] == 0x00F720DF

    def reported():
        status, body = http_json(appliance_server.url + "/api/monitor")
        return status == 200 and body["state"] == "test_failed" and body

    body = wait_until(reported, what="the report on the server")
    assert body["colour"] == "RED"
    [source] = body["sources"]
    assert (source["kind"], source["name"], source["detail"]) == (
        "octopus",
        f"{octopus.PROJECT} → {octopus.ENVIRONMENT}",
        "Run tests: failed",
    )
    assert body["driver"]["backends"][0]["name"] == "lirc"

    monitor_process.send_signal(signal.SIGTERM)
    assert monitor_process.wait(timeout=10) == 0
    log = monitor_process.log.read_text()
    assert "source Projects-21 → Environments-3: unknown -> testing" in log
    assert octopus.API_KEY not in log
    assert {seen.headers["X-Octopus-ApiKey"] for seen in fake.seen} == {octopus.API_KEY}


def test_the_idle_monitor_with_built_in_sources_shows_unknown(tmp_path, lircd, appliance_server):
    config = write_config(
        tmp_path / "monitor.toml",
        appliance_server.data_dir,
        appliance_server.port,
        f'\n[lamp]\nbackend = ["lirc", "virtual"]\n\n[lamp.lirc]\nsocket = "{lircd.socket}"\n',
    )
    with (tmp_path / "monitor.log").open("wb") as log:
        process = subprocess.Popen([APPLIANCE, "monitor", "--config", str(config)], stdout=log, stderr=log)
    try:
        wait_until(lambda: lamp_keys(lircd) == ["ON", "LIGHT_BLUE"], what="ON, LIGHT_BLUE through lircd")
        _status, body = wait_until(
            lambda: (r := http_json(appliance_server.url + "/api/monitor"))[0] == 200 and r
        )
        assert (body["state"], body["colour"], body["sources"]) == ("unknown", "LIGHT_BLUE", [])
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
