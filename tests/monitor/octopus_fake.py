"""Scripting the fake Octopus server with the documented answers of its REST API."""

from __future__ import annotations

from appliance.config import Secret
from appliance.monitor.settings import OctopusSourceConfig
from tests.monitor.fakes import FakeService

PROJECT = "Projects-21"
ENVIRONMENT = "Environments-3"
SPACE = "Spaces-1"
TASK = "ServerTasks-1042"
KEY_VARIABLE = "TEST_OCTOPUS_API_KEY"
API_KEY = "API-SEKRITKEY0123456789"
# The seed's deployment: acquire the packages, deploy, run the system tests.
STEPS = ("Acquire packages", "Step 1: Deploy", "Step 2: Run tests")
# The query of "the latest deployment of the project to the environment".
LATEST = {"projects": PROJECT, "environments": ENVIRONMENT, "take": "1"}


def settings(fake: FakeService, **changes) -> OctopusSourceConfig:
    values = {
        "url": fake.url + "/",
        "space": SPACE,
        "project": PROJECT,
        "environment": ENVIRONMENT,
        "api_key": Secret(f"env:{KEY_VARIABLE}"),
        "interval": 0.05,
        "timeout": 0.5,
        **changes,
    }
    return OctopusSourceConfig(**values)


def api(space: str | None = SPACE) -> str:
    return f"/api/{space}" if space else "/api"


def no_deployments(fake: FakeService, space: str | None = SPACE) -> None:
    fake.json(f"{api(space)}/deployments", collection([]), when=LATEST)


def deployment(
    fake: FakeService,
    state: str,
    statuses: tuple[str, ...] = ("Success", "Success", "Success"),
    *,
    steps: tuple[str, ...] = STEPS,
    interruptions: bool = False,
    error: str = "",
    space: str | None = SPACE,
) -> None:
    """The latest deployment of the project to the environment is a task in ``state`` whose steps
    have ``statuses``."""
    completed = state in ("Success", "Failed", "Canceled", "TimedOut")
    task = {
        "Id": TASK,
        "Name": "Deploy",
        "Description": "Deploy release 1.4.2 to Integration",
        "State": state,
        "IsCompleted": completed,
        "FinishedSuccessfully": state == "Success",
        "HasPendingInterruptions": interruptions,
        "ErrorMessage": error,
    }
    children = [
        {"Id": f"ServerTasks-1042_{i}", "Name": name, "Status": status, "Children": []}
        for i, (name, status) in enumerate(zip(steps, statuses, strict=True))
    ]
    details = {
        "Task": task,
        "ActivityLogs": [
            {"Id": "ServerTasks-1042", "Name": "Deploy", "Status": "Running", "Children": children}
        ],
        "Progress": {"ProgressPercentage": 50, "EstimatedTimeRemaining": "1 minute"},
    }
    # The steps first, then the task, then the deployment: a poll that reads while this changes
    # sees an older task with newer steps (as from a real server), never a newer task with older steps.
    fake.json(f"{api(space)}/tasks/{TASK}/details", details)
    fake.json(f"{api(space)}/tasks/{TASK}", task)
    fake.json(
        f"{api(space)}/deployments",
        collection([{"Id": "Deployments-77", "ProjectId": PROJECT, "EnvironmentId": ENVIRONMENT,
                     "ReleaseId": "Releases-9", "TaskId": TASK, "Name": "Deploy to Integration"}]),
        when=LATEST,
    )  # fmt: skip


def collection(items: list) -> dict:
    return {
        "ItemType": "Deployment",
        "TotalResults": len(items),
        "ItemsPerPage": 1,
        "NumberOfPages": 1,
        "LastPageNumber": 0,
        "Items": items,
        "Links": {},
    }
