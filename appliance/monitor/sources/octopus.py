"""Octopus Deploy: the latest deployment of one project to one environment.

The seed read the steps by position and showed green for anything it did not know; here steps
are found by name (``steps`` in the settings, "Step 2: Deploy" and "Deploy" alike), a failure is
never green, and every task state has its own answer.
"""

from __future__ import annotations

import re
from typing import Any

from appliance.monitor.settings import OctopusSourceConfig
from appliance.monitor.sources import Reading, expect
from appliance.monitor.sources.http import Credentials, Http, HttpSource
from appliance.monitor.states import PHASE_FAILED, State

# Octopus names the steps of a task log "Step 1: Deploy"; the settings name them "Deploy".
STEP_NUMBER = re.compile(r"^Step \d+: ")


class OctopusSource(HttpSource[OctopusSourceConfig]):
    kind = "octopus"

    def __init__(self, settings: OctopusSourceConfig, http: Http):
        super().__init__(settings, http)
        self.base = settings.url.rstrip("/")
        self.api = f"{self.base}/api/{settings.space}" if settings.space else f"{self.base}/api"
        self.phases = {step: State(phase) for step, phase in settings.steps.items()}

    def credentials(self) -> Credentials:
        return Credentials.header("X-Octopus-ApiKey", self.settings.api_key, "API key")

    def read(self) -> Reading:
        deployments = self._get("deployments", projects=self.settings.project,
                                environments=self.settings.environment, take=1)  # fmt: skip
        items = expect(deployments, "Items", list, "deployments")
        if not items:
            return Reading(State.UNKNOWN, detail=f"no deployment to {self.settings.environment} yet")
        task_id = expect(items[0], "TaskId", str, "deployments")
        task = self._get(f"tasks/{task_id}")
        state = expect(task, "State", str, f"tasks/{task_id}")
        space = f"{self.settings.space}/" if self.settings.space else ""
        link = f"{self.base}/app#/{space}tasks/{task_id}"
        if state == "Queued":
            return Reading(State.QUEUED, link, "queued")
        if state in ("Canceled", "Cancelling"):
            return Reading(State.CANCELLED, link, state.lower())
        if state == "Success":
            return Reading(State.SUCCESS, link, "deployed successfully")
        if state not in ("Executing", "Failed", "TimedOut"):
            return Reading(State.UNKNOWN, link, f"task state {state!r}")
        steps = self._steps(task_id)
        failed = next((name for name, status in steps if status == "Failed"), None)
        if failed is not None:
            phase = self.phases.get(failed)
            return Reading(PHASE_FAILED[phase] if phase else State.FAILURE, link, f"{failed}: failed")
        if state != "Executing":
            message = task.get("ErrorMessage") or ("timed out" if state == "TimedOut" else "failed")
            return Reading(State.FAILURE, link, str(message)[:200])
        if task.get("HasPendingInterruptions"):
            return Reading(State.WAITING, link, "waiting for a manual intervention")
        mapped = [(name, status, self.phases[name]) for name, status in steps if name in self.phases]
        for name, status, phase in mapped:
            if status == "Running":
                return Reading(phase, link, f"{name}: running")
        # Between two steps, or in a step no setting names: still in the phase of the last one that ran.
        ran = [(name, phase) for name, status, phase in mapped if status not in ("Pending", "Skipped")]
        if ran:
            name, phase = ran[-1]
            return Reading(phase, link, f"after {name}")
        running = next((name for name, status in steps if status == "Running"), None)
        return Reading(State.DEPLOYING, link, f"{running}: running" if running else "executing")

    def _get(self, path: str, **params: Any) -> Any:
        return self.get_json(f"{self.api}/{path}", params)

    def _steps(self, task_id: str) -> list[tuple[str, str]]:
        """(name, status) of each step of the task's log, names without their "Step N: "."""
        where = f"tasks/{task_id}/details"
        details = self._get(where)
        logs = expect(details, "ActivityLogs", list, where)
        if not logs:
            return []
        steps = []
        for child in expect(logs[0], "Children", list, where):
            name = STEP_NUMBER.sub("", expect(child, "Name", str, where))
            steps.append((name, expect(child, "Status", str, where)))
        return steps
