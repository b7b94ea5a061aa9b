"""The monitor reports to a real ``appliance server``, and the lamp never waits for it."""

from __future__ import annotations

import pytest

from appliance.auth import role_token
from appliance.config import Config
from appliance.monitor.states import State
from tests.conftest import ApplianceServer, http_json
from tests.monitor import test_jenkins as jenkins
from tests.monitor.conftest import stepped_monitor

pytestmark = pytest.mark.slow


def shown(server: ApplianceServer) -> tuple | None:
    try:
        status, body = http_json(server.url + "/api/monitor", timeout=2)
    except OSError:
        return None
    if status != 200:
        return None
    return body["state"], body["colour"], [(s["name"], s["state"], s["detail"]) for s in body["sources"]]


def test_the_status_page_shows_what_the_monitor_reports(appliance_server, fake, http):
    token = role_token(Config(data_dir=appliance_server.data_dir), "monitor")
    jenkins.build(fake, "FAILURE")
    watched = [jenkins.source(fake, http)]
    with stepped_monitor(watched, server_url=appliance_server.url, token=token) as stepped:
        stepped.at(1000)
        assert shown(appliance_server) == ("failure", "RED", [("app", "failure", "build #12: FAILURE")])
        _status, body = http_json(appliance_server.url + "/api/monitor")
        assert body["driver"]["key"] == "RED"
        assert body["sources"][0]["link"] == f"{fake.url}/job/app/12/"
        jenkins.build(fake, "SUCCESS", 13)
        stepped.at(1010)
        assert shown(appliance_server) == ("success", "GREEN", [("app", "success", "build #13: SUCCESS")])


def test_the_lamp_goes_on_while_the_server_is_down_and_the_server_catches_up(tmp_path, fake, http):
    server = ApplianceServer(tmp_path / "server")
    token = role_token(Config(data_dir=server.data_dir), "monitor")  # the server will read the same file
    jenkins.build(fake, "SUCCESS")
    watched = [jenkins.source(fake, http)]
    red = ("failure", "RED", [("app", "failure", "build #13: FAILURE")])
    green = ("success", "GREEN", [("app", "success", "build #14: SUCCESS")])
    try:
        with stepped_monitor(watched, server_url=server.url, token=token, heartbeat=60) as stepped:
            assert stepped.at(1000) == (State.SUCCESS, "GREEN")
            jenkins.build(fake, "FAILURE", 13)
            assert stepped.at(1010) == (State.FAILURE, "RED")
            server.start()
            stepped.at(1020)  # the undelivered report's retry is due: 1 s after 1000, then 2 s after 1010
            assert shown(server) == red
            server.stop()
            jenkins.build(fake, "SUCCESS", 14)
            assert stepped.at(1030) == (State.SUCCESS, "GREEN")
            server.start()
            stepped.at(1040)
            assert shown(server) == green, "the change made while the server was down"
            # A restarted server knows nothing; the report sent every heartbeat tells it again.
            server.stop()
            server.start()
            stepped.at(1099)
            assert shown(server) is None
            stepped.at(1100)
            assert shown(server) == green, "the heartbeat report"
    finally:
        server.stop()
