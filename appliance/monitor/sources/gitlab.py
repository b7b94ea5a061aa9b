"""GitLab CI: the latest pipeline of one project on one ref."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from appliance.monitor.settings import GitLabSourceConfig
from appliance.monitor.sources import Reading, building_after, expect, expect_list
from appliance.monitor.sources.http import Credentials, Http, HttpSource, NotFound
from appliance.monitor.states import State

FINISHED: dict[str, State] = {
    "success": State.SUCCESS,
    "failed": State.FAILURE,
    "canceled": State.CANCELLED,
    "manual": State.WAITING,  # stopped at a manual job: somebody has to act
    "scheduled": State.QUEUED,
    # skipped: the pipeline says nothing about the code.
}
RUNNING = ("created", "waiting_for_resource", "preparing", "pending", "running")


class GitLabSource(HttpSource[GitLabSourceConfig]):
    kind = "gitlab"

    def __init__(self, settings: GitLabSourceConfig, http: Http):
        super().__init__(settings, http)
        # A path like group/project is one URL segment: group%2Fproject.
        self.project_url = f"{settings.api.rstrip('/')}/projects/{quote(settings.project, safe='')}"

    def credentials(self) -> Credentials:
        return Credentials.header("PRIVATE-TOKEN", self.settings.token, "token")

    def read(self) -> Reading:
        try:
            pipeline = self._get("/pipelines/latest", ref=self.settings.ref)
        except NotFound:
            # Also the answer for a project without pipelines: ask whether the project exists.
            self._get("")
            return Reading(State.UNKNOWN, detail=f"no pipeline for {self.settings.ref} yet")
        status = expect(pipeline, "status", str, "pipeline")
        link = pipeline.get("web_url")
        detail = f"pipeline #{pipeline.get('id', '?')}: {status.replace('_', ' ')}"
        if status not in RUNNING:
            return Reading(FINISHED.get(status, State.UNKNOWN), link, detail)
        finished = expect_list(
            self._get("/pipelines", ref=self.settings.ref, scope="finished", per_page=1),
            "pipelines",
        )
        before = FINISHED.get(expect(finished[0], "status", str, "pipelines")) if finished else None
        return Reading(building_after(before), link, detail)

    def _get(self, path: str, **params: Any) -> Any:
        return self.get_json(self.project_url + path, params)
