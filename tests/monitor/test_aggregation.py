"""Several sources at once: the lamp shows the worst, in the colours of the table."""

from __future__ import annotations

import pytest

from appliance.monitor.program import colour_table
from appliance.monitor.sources.octopus import OctopusSource
from appliance.monitor.states import State
from tests.monitor import octopus_fake as octopus
from tests.monitor import test_cctray as cctray
from tests.monitor import test_jenkins as jenkins
from tests.monitor.conftest import stepped_monitor


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(octopus.KEY_VARIABLE, octopus.API_KEY)


def sources(fake, http) -> list:
    return [
        OctopusSource(octopus.settings(fake), http),
        cctray.source(fake, http),
        jenkins.source(fake, http),
    ]


def test_the_lamp_shows_the_worst_state_of_all_sources(fake, http):
    octopus.deployment(fake, "Success")
    cctray.publish(fake, ("app", "Building", "Success"))
    jenkins.build(fake, "FAILURE")
    with stepped_monitor(sources(fake, http), stale_after=60) as stepped:
        assert stepped.at(1000) == (State.FAILURE, "RED")
        report = stepped.monitor.report()
        assert [(s["kind"], s["state"]) for s in report["sources"]] == [
            ("octopus", "success"),
            ("cctray", "building_after_success"),
            ("jenkins", "failure"),
        ]
        assert report["lamp"] == {
            "state": "failure",
            "colour": "RED",
            "meaning": "Failed",
            "driver": stepped.monitor.lamp.status(),
        }
        jenkins.build(fake, "SUCCESS")
        assert stepped.at(1010) == (State.BUILDING_AFTER_SUCCESS, "CYAN")
        cctray.publish(fake, ("app", "Sleeping", "Success"))
        assert stepped.at(1020) == (State.SUCCESS, "GREEN")
        # One source that cannot be read: the lamp never claims green blindly.
        fake.fail(cctray.FEED, 502, "Bad Gateway")
        assert stepped.at(1030) == (State.SUCCESS, "GREEN")  # until stale_after
        assert stepped.source(1)["error"].startswith("HTTP 502 Bad Gateway from http://127.0.0.1:")
        assert stepped.at(1080) == (State.UNREACHABLE, "PURPLE")
        # A known failure outranks a source that cannot be read.
        octopus.deployment(fake, "Failed", ("Success", "Success", "Failed"))
        assert stepped.at(1090) == (State.TEST_FAILED, "RED")


def test_the_colour_table_overrides_the_defaults(fake, http):
    octopus.deployment(fake, "Success")
    cctray.publish(fake, ("app", "Sleeping", "Success"))
    jenkins.build(fake, "FAILURE")
    colours = colour_table({"failure": "ORANGE", "success": "PEA_GREEN"})
    with stepped_monitor(sources(fake, http), colours=colours) as stepped:
        assert stepped.at(1000) == (State.FAILURE, "ORANGE")
        assert stepped.monitor.report()["lamp"]["colour"] == "ORANGE"
        jenkins.build(fake, "SUCCESS")
        assert stepped.at(1010) == (State.SUCCESS, "PEA_GREEN")
        jenkins.build(fake, None, previous="SUCCESS")
        assert stepped.at(1020) == (State.BUILDING_AFTER_SUCCESS, "CYAN")  # not overridden: the default


def test_no_source_at_all_is_unknown():
    with stepped_monitor([]) as stepped:
        assert stepped.at(1000) == (State.UNKNOWN, "LIGHT_BLUE")
        assert stepped.lamp.sent == ["ON", "LIGHT_BLUE"]
        assert stepped.monitor.report()["sources"] == []
