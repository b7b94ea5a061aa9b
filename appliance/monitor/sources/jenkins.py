"""Jenkins: the last build of one job (``tree=`` keeps the answers a few hundred bytes)."""

from __future__ import annotations

from typing import Any

from appliance.monitor.settings import JenkinsSourceConfig
from appliance.monitor.sources import Reading, building_after, expect, expect_object
from appliance.monitor.sources.http import Credentials, Http, HttpSource, NotFound
from appliance.monitor.states import State

RESULTS: dict[str, State] = {
    "SUCCESS": State.SUCCESS,
    "UNSTABLE": State.FAILURE,
    "FAILURE": State.FAILURE,
    "ABORTED": State.CANCELLED,
    "NOT_BUILT": State.UNKNOWN,
}


class JenkinsSource(HttpSource[JenkinsSourceConfig]):
    kind = "jenkins"

    def __init__(self, settings: JenkinsSourceConfig, http: Http):
        super().__init__(settings, http)
        self.job = settings.job.rstrip("/")

    def credentials(self) -> Credentials:
        return Credentials.basic(self.settings.username, self.settings.token, "API token")

    def read(self) -> Reading:
        try:
            build = self._get("/lastBuild", "number,url,result,building,timestamp,estimatedDuration")
        except NotFound:
            # Also the answer for a job that was never built: ask whether the job exists.
            self._get("", "name")
            return Reading(State.UNKNOWN, detail="no build yet")
        building = expect(build, "building", bool, "lastBuild")
        result = build.get("result")
        link = build.get("url")
        title = f"build #{build.get('number', '?')}"
        if not building:
            return Reading(RESULTS.get(str(result), State.UNKNOWN), link, f"{title}: {result}")
        try:
            previous = self._get("/lastCompletedBuild", "result").get("result")
        except NotFound:
            previous = None
        return Reading(building_after(RESULTS.get(str(previous))), link, f"{title}: building")

    def _get(self, path: str, tree: str) -> Any:
        answer = self.get_json(f"{self.job}{path}/api/json", {"tree": tree})
        return expect_object(answer, path.lstrip("/") or "job")
