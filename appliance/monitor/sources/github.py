"""GitHub Actions: the latest run of one workflow on one branch.

Requests are conditional (ETag): an unchanged answer is a 304 that GitHub does not count against
the rate limit, and the previous answer is used again. While a run is in progress, the last
completed run of the same workflow and branch says whether it is building after a success or
after a failure (one more request, conditional as well).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from appliance.monitor.settings import GitHubSourceConfig
from appliance.monitor.sources import Reading, building_after, expect
from appliance.monitor.sources.http import Credentials, Http, HttpSource
from appliance.monitor.states import State

CONCLUSIONS: dict[str, State] = {
    "success": State.SUCCESS,
    "failure": State.FAILURE,
    "timed_out": State.FAILURE,
    "startup_failure": State.FAILURE,
    "cancelled": State.CANCELLED,
    "action_required": State.WAITING,
    # skipped, neutral, stale: the run says nothing about the code.
}


class GitHubSource(HttpSource[GitHubSourceConfig]):
    kind = "github"
    headers: ClassVar[Mapping[str, str]] = {
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }

    def __init__(self, settings: GitHubSourceConfig, http: Http):
        super().__init__(settings, http)
        api = settings.api.rstrip("/")
        self.runs_url = (
            f"{api}/repos/{settings.owner}/{settings.repo}/actions/workflows/{settings.workflow}/runs"
        )

    def credentials(self) -> Credentials:
        return Credentials.header("Authorization", self.settings.token, "token", "Bearer {}")

    def read(self) -> Reading:
        run = self._latest_run()
        if run is None:
            return Reading(State.UNKNOWN, detail=f"no run on {self.settings.branch} yet")
        status = expect(run, "status", str, "workflow run")
        link = run.get("html_url")
        title = f"run #{run.get('run_number', '?')}"
        if status == "completed":
            conclusion = run.get("conclusion")
            return Reading(CONCLUSIONS.get(str(conclusion), State.UNKNOWN), link, f"{title}: {conclusion}")
        previous = self._latest_run(status="completed")
        before = CONCLUSIONS.get(str(previous.get("conclusion"))) if previous else None
        return Reading(building_after(before), link, f"{title}: {status.replace('_', ' ')}")

    def _latest_run(self, **filters: str) -> Any:
        params = {"branch": self.settings.branch, "per_page": 1, **filters}
        answer = self.get_json(self.runs_url, params, conditional=True)
        runs = expect(answer, "workflow_runs", list, "workflow runs")
        return runs[0] if runs else None
