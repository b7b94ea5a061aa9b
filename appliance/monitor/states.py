"""One vocabulary of states for every status source, their priority and their default colours.

Every source, whatever its API calls things, says one of these. The monitor shows the worst
state of all sources: ``PRIORITY`` lists them worst first. The default colours are the seed's
(an Octopus lamp), with its bug fixed: a failure, a cancellation or a time-out is never green,
and a source that cannot be read is its own state (PURPLE), never a colour of the last answer.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    BUILDING_AFTER_SUCCESS = "building_after_success"
    BUILDING_AFTER_FAILURE = "building_after_failure"
    QUEUED = "queued"
    WAITING = "waiting"
    ACQUIRING = "acquiring"
    DEPLOYING = "deploying"
    TESTING = "testing"
    WAIT_FAILED = "wait_failed"
    ACQUIRE_FAILED = "acquire_failed"
    DEPLOY_FAILED = "deploy_failed"
    TEST_FAILED = "test_failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"
    UNREACHABLE = "unreachable"

    @property
    def meaning(self) -> str:
        return MEANINGS[self]


# Worst first. A known failure outranks a source that cannot be read (red beats purple); not
# being able to read a source outranks every good news (the lamp never claims green blindly).
PRIORITY: list[State] = [
    State.TEST_FAILED,
    State.DEPLOY_FAILED,
    State.ACQUIRE_FAILED,
    State.WAIT_FAILED,
    State.FAILURE,
    State.UNREACHABLE,
    State.BUILDING_AFTER_FAILURE,
    State.CANCELLED,
    State.TESTING,
    State.DEPLOYING,
    State.ACQUIRING,
    State.WAITING,
    State.QUEUED,
    State.BUILDING_AFTER_SUCCESS,
    State.UNKNOWN,
    State.SUCCESS,
]

# The key of the LED_24_KEY remote that shows each state.
DEFAULT_COLOURS: dict[State, str] = {
    State.SUCCESS: "GREEN",
    State.FAILURE: "RED",
    State.BUILDING_AFTER_SUCCESS: "CYAN",
    State.BUILDING_AFTER_FAILURE: "PINK",
    State.QUEUED: "WHITE",
    State.WAITING: "WHITE",
    State.ACQUIRING: "SKY_BLUE",
    State.DEPLOYING: "BLUE",
    State.TESTING: "DARK_BLUE",
    State.WAIT_FAILED: "YELLOW",
    State.ACQUIRE_FAILED: "DARK_YELLOW",
    State.DEPLOY_FAILED: "ORANGE",
    State.TEST_FAILED: "RED",
    State.CANCELLED: "BROWN",
    State.UNKNOWN: "LIGHT_BLUE",
    State.UNREACHABLE: "PURPLE",
}

MEANINGS: dict[State, str] = {
    State.SUCCESS: "All good",
    State.FAILURE: "Failed",
    State.BUILDING_AFTER_SUCCESS: "Building (last build passed)",
    State.BUILDING_AFTER_FAILURE: "Building (last build failed)",
    State.QUEUED: "Deployment queued",
    State.WAITING: "Deployment waiting",
    State.ACQUIRING: "Acquiring packages",
    State.DEPLOYING: "Deploying",
    State.TESTING: "Running tests",
    State.WAIT_FAILED: "Deployment failed while waiting",
    State.ACQUIRE_FAILED: "Acquiring packages failed",
    State.DEPLOY_FAILED: "Deployment failed",
    State.TEST_FAILED: "Tests failed",
    State.CANCELLED: "Cancelled",
    State.UNKNOWN: "No result yet",
    State.UNREACHABLE: "Cannot reach a status source",
}


def worst(states: list[State]) -> State:
    """The state the lamp shows for these sources; UNKNOWN when there are none."""
    if not states:
        return State.UNKNOWN
    return min(states, key=PRIORITY.index)


# An Octopus deployment goes through these phases (its steps are mapped to them by name); a
# step that fails turns its phase into the matching failed state.
PHASE_FAILED: dict[State, State] = {
    State.WAITING: State.WAIT_FAILED,
    State.ACQUIRING: State.ACQUIRE_FAILED,
    State.DEPLOYING: State.DEPLOY_FAILED,
    State.TESTING: State.TEST_FAILED,
}
