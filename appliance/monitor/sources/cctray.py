"""A CCTray XML feed (``cc.xml``), as Jenkins, GoCD, TeamCity, Buildkite, Concourse and
Woodpecker publish it: the worst state of the projects watched."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from appliance.cctray import project_state
from appliance.client import where
from appliance.monitor.settings import CCTraySourceConfig
from appliance.monitor.sources import Reading, SourceRefused
from appliance.monitor.sources.http import Credentials, Http, HttpSource
from appliance.monitor.states import State, worst


class CCTraySource(HttpSource[CCTraySourceConfig]):
    kind = "cctray"

    def __init__(self, settings: CCTraySourceConfig, http: Http):
        super().__init__(settings, http)
        watched = settings.projects
        self.projects = [watched] if isinstance(watched, str) else list(watched)

    def credentials(self) -> Credentials:
        return Credentials.basic(self.settings.username, self.settings.password, "password")

    def read(self) -> Reading:
        answer = self.get_bytes(self.settings.url)
        try:
            # The standard library's expat refuses entity expansion attacks and never fetches
            # external entities; the feed comes from a server the user configured.
            root = ElementTree.fromstring(answer)  # noqa: S314
        except ElementTree.ParseError as exc:
            raise SourceRefused(f"invalid XML from {where(self.settings.url)}: {exc}") from None
        if root.tag != "Projects":
            raise SourceRefused(
                f"not a CCTray feed: {where(self.settings.url)} has <{root.tag}>, not <Projects>"
            )
        feed = {p.get("name", ""): p for p in root.findall("Project")}
        missing = [name for name in self.projects if name not in feed]
        if missing:
            listed = ", ".join(sorted(feed)) or "none"
            raise SourceRefused(f"the feed has no project {', '.join(map(repr, missing))} (it has: {listed})")
        chosen = [feed[name] for name in self.projects] if self.projects else list(feed.values())
        if not chosen:
            return Reading(State.UNKNOWN, detail="the feed lists no project")
        states = {
            p.get("name", ""): project_state(p.get("activity"), p.get("lastBuildStatus")) for p in chosen
        }
        state = worst(list(states.values()))
        shown = next(p for p in chosen if states[p.get("name", "")] is state)
        if len(chosen) == 1:
            label = shown.get("lastBuildLabel")
            detail = f"{shown.get('activity', '?')}, last build {shown.get('lastBuildStatus', '?')}"
            detail += f" ({label})" if label else ""
        else:
            not_passing = ", ".join(name for name, s in states.items() if s is not State.SUCCESS)
            detail = f"{len(chosen)} projects; " + (
                f"not passing: {not_passing}" if not_passing else "all passing"
            )
        return Reading(state, shown.get("webUrl"), detail)
