"""Octopus Deploy through the monitor, stepped on its own clock, against a fake Octopus server on
127.0.0.1."""

from __future__ import annotations

import logging

import pytest

from appliance.monitor.sources.octopus import OctopusSource
from appliance.monitor.states import State
from tests.conftest import free_port
from tests.monitor import octopus_fake as octopus
from tests.monitor.conftest import stepped_monitor
from tests.monitor.fakes import Answer


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(octopus.KEY_VARIABLE, octopus.API_KEY)


def test_a_deployment_is_followed_from_queued_through_each_step_to_success(fake, http):
    octopus.no_deployments(fake)
    with stepped_monitor([OctopusSource(octopus.settings(fake), http)]) as stepped:
        assert stepped.at(1000) == (State.UNKNOWN, "LIGHT_BLUE")
        octopus.deployment(fake, "Queued", ("Pending", "Pending", "Pending"))
        assert stepped.at(1010) == (State.QUEUED, "WHITE")
        octopus.deployment(fake, "Executing", ("Running", "Pending", "Pending"))
        assert stepped.at(1020) == (State.ACQUIRING, "SKY_BLUE")
        octopus.deployment(fake, "Executing", ("Success", "Running", "Pending"))
        assert stepped.at(1030) == (State.DEPLOYING, "BLUE")
        assert stepped.source()["detail"] == "Deploy: running"
        octopus.deployment(fake, "Executing", ("Success", "Success", "Running"))
        assert stepped.at(1040) == (State.TESTING, "DARK_BLUE")
        octopus.deployment(fake, "Success")
        assert stepped.at(1050) == (State.SUCCESS, "GREEN")
        report = stepped.source()
    assert stepped.lamp.sent == ["ON", "LIGHT_BLUE", "WHITE", "SKY_BLUE", "BLUE", "DARK_BLUE", "GREEN"]
    assert report["link"] == f"{fake.url}/app#/{octopus.SPACE}/tasks/{octopus.TASK}"
    assert report["error"] is None
    assert {seen.headers["X-Octopus-ApiKey"] for seen in fake.seen} == {octopus.API_KEY}


@pytest.mark.parametrize(
    ("state", "statuses", "options", "expected", "colour"),
    [
        ("Failed", ("Success", "Success", "Failed"), {}, State.TEST_FAILED, "RED"),
        ("Executing", ("Success", "Failed", "Pending"), {}, State.DEPLOY_FAILED, "ORANGE"),
        ("Failed", ("Failed", "Skipped", "Skipped"), {}, State.ACQUIRE_FAILED, "DARK_YELLOW"),
        (
            "Failed",
            ("Success", "Success", "Success"),
            {"error": "The deployment failed"},
            State.FAILURE,
            "RED",
        ),
        ("TimedOut", ("Success", "Running", "Pending"), {}, State.FAILURE, "RED"),
        ("Canceled", ("Success", "Canceled", "Pending"), {}, State.CANCELLED, "BROWN"),
        ("Cancelling", ("Success", "Running", "Pending"), {}, State.CANCELLED, "BROWN"),
        ("Executing", ("Success", "Running", "Pending"), {"interruptions": True}, State.WAITING, "WHITE"),
        (
            "Failed",
            ("Success", "Success", "Failed"),
            {"steps": ("Acquire packages", "Step 1: Deploy", "Step 2: Notify Slack")},
            State.FAILURE,
            "RED",
        ),
    ],
)
def test_a_deployment_that_does_not_succeed_is_never_green(
    fake, http, state, statuses, options, expected, colour
):
    octopus.deployment(fake, "Success")
    with stepped_monitor([OctopusSource(octopus.settings(fake), http)]) as stepped:
        assert stepped.at(1000) == (State.SUCCESS, "GREEN")
        octopus.deployment(fake, state, statuses, **options)
        assert stepped.at(1010) == (expected, colour)
        assert stepped.source()["link"].endswith(f"/tasks/{octopus.TASK}")
    assert stepped.lamp.sent == ["ON", "GREEN", colour]


def test_steps_are_mapped_by_the_names_in_the_settings(fake, http):
    steps = ("Manual approval", "Step 2: Install", "Step 3: Smoke tests")
    phases = {"Manual approval": "waiting", "Install": "deploying", "Smoke tests": "testing"}
    source = OctopusSource(octopus.settings(fake, steps=phases), http)
    octopus.deployment(fake, "Executing", ("Running", "Pending", "Pending"), steps=steps)
    assert source.poll().state is State.WAITING
    octopus.deployment(fake, "Executing", ("Success", "Success", "Running"), steps=steps)
    assert source.poll().state is State.TESTING
    octopus.deployment(fake, "Failed", ("Failed", "Skipped", "Skipped"), steps=steps)
    reading = source.poll()
    assert (reading.state, reading.detail) == (State.WAIT_FAILED, "Manual approval: failed")
    # Between two steps: still in the phase of the last step that ran.
    octopus.deployment(fake, "Executing", ("Success", "Pending", "Pending"), steps=steps)
    assert (source.poll().state, source.poll().detail) == (State.WAITING, "after Manual approval")
    # A running step that no setting names, and none named has run yet: "deploying", the generic phase.
    octopus.deployment(fake, "Executing", ("Running", "Pending", "Pending"), steps=("Unnamed", *steps[1:]))
    assert source.poll().state is State.DEPLOYING


def test_without_a_space_the_legacy_routes_are_used(fake, http):
    octopus.deployment(fake, "Success", space=None)
    reading = OctopusSource(octopus.settings(fake, space=""), http).poll()
    assert reading.state is State.SUCCESS
    assert reading.link == f"{fake.url}/app#/tasks/{octopus.TASK}"
    assert fake.requests_to("/api/deployments")[0].query == octopus.LATEST


def broken(fake, how: str) -> str:
    """Make the deployments route fail in one way; the text the error must contain."""
    path = f"{octopus.api()}/deployments"
    if how == "401":
        fake.answer(path, Answer(401, b'{"ErrorMessage": "Invalid API key"}', when=octopus.LATEST))
        return "HTTP 401 Unauthorized from http://127.0.0.1"
    if how == "500":
        fake.answer(path, Answer(500, b"<html>oops</html>", "text/html", when=octopus.LATEST))
        return "HTTP 500 Internal Server Error"
    if how == "hang":
        fake.answer(path, Answer(hang=True, when=octopus.LATEST))
        return "within 0.5 s"
    if how == "invalid JSON":
        fake.answer(path, Answer(200, b'{"Items": [', when=octopus.LATEST))
        return "invalid JSON from"
    if how == "unexpected shape":
        fake.json(path, {"Items": "none"}, when=octopus.LATEST)
        return "'Items' should be list"
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["401", "500", "hang", "invalid JSON", "unexpected shape"])
def test_an_unreadable_server_turns_unreachable_after_stale_after_and_recovers(fake, http, caplog, how):
    caplog.set_level(logging.DEBUG)
    octopus.deployment(fake, "Success")
    with stepped_monitor([OctopusSource(octopus.settings(fake), http)], stale_after=60) as stepped:
        assert stepped.at(1000) == (State.SUCCESS, "GREEN")
        expected = broken(fake, how)
        assert stepped.at(1060) == (State.UNREACHABLE, "PURPLE")
        error = stepped.source()["error"]
        assert expected in error
        assert octopus.API_KEY not in error
        octopus.deployment(fake, "Failed", ("Success", "Success", "Failed"))
        assert stepped.at(1070) == (State.TEST_FAILED, "RED")
        assert stepped.source()["error"] is None
    assert octopus.API_KEY not in caplog.text
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        m.startswith(f"source {octopus.PROJECT} → {octopus.ENVIRONMENT}: ") and expected in m
        for m in warnings
    )


def test_a_failed_read_keeps_the_last_state_until_stale_after(fake, http):
    octopus.deployment(fake, "Success")
    source = OctopusSource(octopus.settings(fake, interval=10), http)
    with stepped_monitor([source], stale_after=60) as stepped:
        assert stepped.at(1000) == (State.SUCCESS, "GREEN")
        assert stepped.sleep == pytest.approx(1.0)  # the next try at the unreachable server
        fake.fail(f"{octopus.api()}/deployments", 503, "maintenance")
        green, purple = (State.SUCCESS, "GREEN"), (State.UNREACHABLE, "PURPLE")
        for now, expected in [(1010, green), (1050, green), (1060, purple)]:
            assert stepped.at(now) == expected, now
            assert "HTTP 503 Service Unavailable" in stepped.source()["error"]
        octopus.deployment(fake, "Success")
        assert stepped.at(1070) == green


def test_the_api_key_is_read_at_each_poll_and_a_missing_one_is_an_error_without_secrets(
    fake, http, monkeypatch
):
    octopus.deployment(fake, "Success")
    source = OctopusSource(octopus.settings(fake), http)
    assert source.poll().state is State.SUCCESS
    monkeypatch.delenv(octopus.KEY_VARIABLE)
    with pytest.raises(Exception, match=f"environment variable {octopus.KEY_VARIABLE} is not set"):
        source.poll()
    monkeypatch.setenv(octopus.KEY_VARIABLE, "API-ROTATED")
    assert source.poll().state is State.SUCCESS
    assert fake.seen[-1].headers["X-Octopus-ApiKey"] == "API-ROTATED"


def test_a_source_that_cannot_connect_says_so(http):
    from appliance.monitor.settings import OctopusSourceConfig
    from appliance.monitor.sources import SourceError

    port = free_port()
    settings = OctopusSourceConfig(url=f"http://127.0.0.1:{port}", project="P", environment="E", timeout=1)
    with pytest.raises(SourceError) as raised:
        OctopusSource(settings, http).poll()
    assert (
        str(raised.value) == f"cannot connect to http://127.0.0.1:{port}/api/deployments: Connection refused"
    )
