"""The CCTray format (``cc.xml``) both ways: how the monitor reads a feed's statuses as its states,
how the appliance says its states in its own ``/cc.xml``, and the document itself.

Both directions live here so that they stay each other's inverse: what the appliance publishes
reads back as the same state (an in-progress or failed state as its family), which
``tests/test_cctray_format.py`` checks for every state. It imports no Flask and no requests: the
server renders the feed, the monitor's CCTray source reads one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

from appliance.monitor.sources import building_after
from appliance.monitor.states import State

SUCCESS, FAILURE, EXCEPTION, UNKNOWN = "Success", "Failure", "Exception", "Unknown"
SLEEPING, BUILDING = "Sleeping", "Building"

# lastBuildStatus as the monitor reads it; any other value means Unknown, as the format says.
LAST_BUILD: dict[str, State] = {SUCCESS: State.SUCCESS, FAILURE: State.FAILURE, EXCEPTION: State.FAILURE}

# A monitored state as (activity, lastBuildStatus). Work under way is Building; the states that
# know the last verdict say it. A source that cannot be read is Exception, as the CI's own
# ``error`` is (the machinery failed, not the code): readers show it as broken, never as fine.
PUBLISHED: dict[State, tuple[str, str]] = {
    State.SUCCESS: (SLEEPING, SUCCESS),
    State.FAILURE: (SLEEPING, FAILURE),
    State.BUILDING_AFTER_SUCCESS: (BUILDING, SUCCESS),
    State.BUILDING_AFTER_FAILURE: (BUILDING, FAILURE),
    State.QUEUED: (BUILDING, UNKNOWN),
    State.WAITING: (BUILDING, UNKNOWN),
    State.ACQUIRING: (BUILDING, UNKNOWN),
    State.DEPLOYING: (BUILDING, UNKNOWN),
    State.TESTING: (BUILDING, UNKNOWN),
    State.WAIT_FAILED: (SLEEPING, FAILURE),
    State.ACQUIRE_FAILED: (SLEEPING, FAILURE),
    State.DEPLOY_FAILED: (SLEEPING, FAILURE),
    State.TEST_FAILED: (SLEEPING, FAILURE),
    State.CANCELLED: (SLEEPING, UNKNOWN),  # says nothing about the code, as a cancelled build
    State.UNKNOWN: (SLEEPING, UNKNOWN),
    State.UNREACHABLE: (SLEEPING, EXCEPTION),
}

# What XML 1.0 cannot carry at all, not even escaped (control characters, U+FFFE, U+FFFF).
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def project_state(activity: str | None, last_build_status: str | None) -> State:
    """The state of a feed's project, as the monitor shows it."""
    last = LAST_BUILD.get(last_build_status or "", State.UNKNOWN)
    return building_after(last) if activity == BUILDING else last


def published(state: str) -> tuple[str, str]:
    """(activity, lastBuildStatus) of a monitored state; Unknown for a name that is no state."""
    try:
        return PUBLISHED[State(state)]
    except ValueError:
        return SLEEPING, UNKNOWN


@dataclass(frozen=True)
class Project:
    """One ``<Project>`` of the feed, its attributes as the format names them."""

    name: str
    activity: str
    last_build_status: str
    last_build_label: str
    last_build_time: str
    web_url: str


def render(projects: Iterable[Project]) -> bytes:
    """The ``<Projects>`` document. Text the XML cannot carry (a control character in a name that
    came from a report) becomes U+FFFD, so one odd value never makes the feed unreadable."""
    root = Element("Projects")
    for project in projects:
        attributes = {
            "name": project.name,
            "activity": project.activity,
            "lastBuildStatus": project.last_build_status,
            "lastBuildLabel": project.last_build_label,
            "lastBuildTime": project.last_build_time,
            "webUrl": project.web_url,
        }
        SubElement(root, "Project", {key: NOT_XML.sub("\ufffd", value) for key, value in attributes.items()})
    return tostring(root, encoding="utf-8", xml_declaration=True)


# The own CI's tiles are its repositories, which the feed lists from the database already.
UNPUBLISHED_KINDS = ("own_ci",)
SOURCE_PREFIX = "monitor/"  # as Jenkins names a job in a folder: never the name of a repository


def monitored_projects(sources: Iterable[Mapping[str, Any]], status_url: str) -> list[Project]:
    """A project per source of the latest monitor report (its JSON), linked to what the source
    links to, else to the status page. The report was checked on the way in; a field of another
    type still makes an empty attribute, never an error."""

    def text(source: Mapping[str, Any], key: str) -> str:
        value = source.get(key)
        return value if isinstance(value, str) else ""

    projects = []
    for source in sources:
        if source.get("kind") in UNPUBLISHED_KINDS:
            continue
        activity, last_build_status = published(text(source, "state"))
        projects.append(
            Project(
                name=SOURCE_PREFIX + text(source, "name"),
                activity=activity,
                last_build_status=last_build_status,
                last_build_label="",
                last_build_time=text(source, "since"),
                web_url=text(source, "link") or status_url,
            )
        )
    return projects
