"""GitLab CI: the latest pipeline of one project on one ref."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from appliance.monitor.settings import GitLabSourceConfig
from appliance.monitor.sources import Reading, building_after, expect, expect_list, reveal
from appliance.monitor.sources.http import Http, NotFound, within_timeout
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


class GitLabSource:
    kind = "gitlab"

    def __init__(self, settings: GitLabSourceConfig, http: Http):
        self.settings = settings
        self.http = http
        self.name = settings.page_name
        self.interval = settings.interval
        # A path like group/project is one URL segment: group%2Fproject.
        self.project_url = f"{settings.api.rstrip('/')}/projects/{quote(settings.project, safe='')}"

    @within_timeout
    def poll(self) -> Reading:
        token = reveal(self.settings.token, "token")
        headers = {"PRIVATE-TOKEN": token} if token else {}
        secrets = (token,) if token else ()
        try:
            pipeline = self._get("/pipelines/latest", headers, secrets, ref=self.settings.ref)
        except NotFound:
            # Also the answer for a project without pipelines: ask whether the project exists.
            self._get("", headers, secrets)
            return Reading(State.UNKNOWN, detail=f"no pipeline for {self.settings.ref} yet")
        status = expect(pipeline, "status", str, "pipeline")
        link = pipeline.get("web_url")
        detail = f"pipeline #{pipeline.get('id', '?')}: {status.replace('_', ' ')}"
        if status not in RUNNING:
            return Reading(FINISHED.get(status, State.UNKNOWN), link, detail)
        finished = expect_list(
            self._get("/pipelines", headers, secrets, ref=self.settings.ref, scope="finished", per_page=1),
            "pipelines",
        )
        before = FINISHED.get(expect(finished[0], "status", str, "pipelines")) if finished else None
        return Reading(building_after(before), link, detail)

    def _get(self, path: str, headers: dict[str, str], secrets: tuple[str, ...], **params: Any) -> Any:
        return self.http.get_json(
            self.project_url + path,
            params=params,
            headers=headers,
            secrets=secrets,
            timeout=self.settings.timeout,
        )
