"""Jenkins: the last build of one job (``tree=`` keeps the answers a few hundred bytes)."""

from __future__ import annotations

from typing import Any

from appliance.monitor.settings import JenkinsSourceConfig
from appliance.monitor.sources import Reading, building_after, expect, expect_object, reveal
from appliance.monitor.sources.http import Http, NotFound, within_timeout
from appliance.monitor.states import State

RESULTS: dict[str, State] = {
    "SUCCESS": State.SUCCESS,
    "UNSTABLE": State.FAILURE,
    "FAILURE": State.FAILURE,
    "ABORTED": State.CANCELLED,
    "NOT_BUILT": State.UNKNOWN,
}


class JenkinsSource:
    kind = "jenkins"

    def __init__(self, settings: JenkinsSourceConfig, http: Http):
        self.settings = settings
        self.http = http
        self.job = settings.job.rstrip("/")
        self.name = settings.page_name
        self.interval = settings.interval

    @within_timeout
    def poll(self) -> Reading:
        token = reveal(self.settings.token, "API token")
        auth = (self.settings.username, token or "") if self.settings.username else None
        try:
            build = self._get("/lastBuild", auth, "number,url,result,building,timestamp,estimatedDuration")
        except NotFound:
            # Also the answer for a job that was never built: ask whether the job exists.
            self._get("", auth, "name")
            return Reading(State.UNKNOWN, detail="no build yet")
        building = expect(build, "building", bool, "lastBuild")
        result = build.get("result")
        link = build.get("url")
        title = f"build #{build.get('number', '?')}"
        if not building:
            return Reading(RESULTS.get(str(result), State.UNKNOWN), link, f"{title}: {result}")
        try:
            previous = self._get("/lastCompletedBuild", auth, "result").get("result")
        except NotFound:
            previous = None
        return Reading(building_after(RESULTS.get(str(previous))), link, f"{title}: building")

    def _get(self, path: str, auth: tuple[str, str] | None, tree: str) -> Any:
        answer = self.http.get_json(
            f"{self.job}{path}/api/json", params={"tree": tree}, auth=auth, timeout=self.settings.timeout
        )
        return expect_object(answer, path.lstrip("/") or "job")
