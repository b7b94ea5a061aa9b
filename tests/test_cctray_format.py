"""The CCTray format both ways: what the appliance publishes for a monitored state reads back, through
the monitor's own reading of a feed, as that state or its family."""

from __future__ import annotations

import pytest

from appliance import cctray
from appliance.monitor.states import PHASE_FAILED, State

UNDER_WAY = (State.QUEUED, *PHASE_FAILED)  # an Octopus deployment's phases, before one fails


@pytest.mark.parametrize("state", list(State))
def test_every_state_is_published_and_reads_back_in_its_family(state):
    activity, status = cctray.published(state.value)
    read_back = cctray.project_state(activity, status)
    if state in (State.SUCCESS, State.FAILURE, State.BUILDING_AFTER_SUCCESS, State.BUILDING_AFTER_FAILURE):
        assert read_back is state
    elif state in PHASE_FAILED.values():
        assert read_back is State.FAILURE
    elif state in UNDER_WAY:
        assert (activity, read_back) == (cctray.BUILDING, State.BUILDING_AFTER_SUCCESS)
    elif state is State.UNREACHABLE:  # never shown as fine: CCTray readers show Exception as broken
        assert (status, read_back) == (cctray.EXCEPTION, State.FAILURE)
    else:  # no verdict: unknown, cancelled
        assert (activity, status, read_back) == (cctray.SLEEPING, cctray.UNKNOWN, State.UNKNOWN)


def test_a_state_of_another_version_is_unknown():
    assert cctray.published("purple") == (cctray.SLEEPING, cctray.UNKNOWN)


def test_a_source_of_odd_types_makes_empty_attributes_and_links_the_status_page():
    [project] = cctray.monitored_projects(
        [{"name": "x", "kind": "jenkins", "state": 7, "since": None, "link": ["no"]}], "http://pi/"
    )
    assert project == cctray.Project("monitor/x", cctray.SLEEPING, cctray.UNKNOWN, "", "", "http://pi/")
