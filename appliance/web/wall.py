"""What the wall at ``/`` shows beyond the monitor's report: each CI repository's latest verdict
and who broke it, each test machine's latest run, how long things have been broken, and the one
word (``tone``) that picks a tile's colour for every vocabulary (monitor states, build and test
statuses). Read from the capabilities' read models; the templates only lay it out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from appliance.ci import statuses as ci_statuses
from appliance.ci.views import Views as CIViews
from appliance.monitor.states import State
from appliance.progress import statuses as test_statuses
from appliance.progress.pages import PageViews

# A repository's broken streak is looked for among its latest builds only: the wall reads
# little, and "broken since" older than this many builds says "at least".
RECENT_BUILDS = 20

BROKEN_STATES = {
    State.FAILURE,
    State.WAIT_FAILED,
    State.ACQUIRE_FAILED,
    State.DEPLOY_FAILED,
    State.TEST_FAILED,
}
BUSY_STATES = {
    State.BUILDING_AFTER_SUCCESS,
    State.BUILDING_AFTER_FAILURE,
    State.QUEUED,
    State.WAITING,
    State.ACQUIRING,
    State.DEPLOYING,
    State.TESTING,
}
FAILED_BUILDS = {ci_statuses.FAILED, ci_statuses.ERROR, ci_statuses.TIMED_OUT}
FAILED_TESTS = {test_statuses.FAILED, test_statuses.ERROR}


def source_tone(state: str) -> str:
    """good, bad, busy or unknown: the tile's colour, always next to the state in words."""
    if state == State.SUCCESS:
        return "good"
    if state in BROKEN_STATES or state == State.UNREACHABLE:
        return "bad"
    return "busy" if state in BUSY_STATES else "unknown"


def build_tone(status: str | None) -> str:
    if status == ci_statuses.PASSED:
        return "good"
    if status in FAILED_BUILDS:
        return "bad"
    return "busy" if status in ci_statuses.ACTIVE else "unknown"


def run_tone(status: str) -> str:
    if status == test_statuses.PASSED:
        return "good"
    if status in FAILED_TESTS:
        return "bad"
    return "busy" if status in test_statuses.ONGOING else "unknown"


def _moment(iso: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(iso) if iso else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def duration_words(seconds: float) -> str:
    """Like "2 h 5 min", "3 d 4 h", "under a minute": read from across a room, so no seconds.
    static/status.js says the same as time passes (``durationWords``)."""
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins} min" if hours else f"{mins} min"


def broken_for(since: str | None, now: datetime) -> str | None:
    moment = _moment(since)
    return duration_words(max(0.0, (now - moment).total_seconds())) if moment else None


def source_tiles(sources: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The monitor's sources, each with its tone and, when broken, for how long."""
    return [
        {
            **source,
            "tone": source_tone(source["state"]),
            "broken_for": broken_for(source["since"], now) if source["state"] in BROKEN_STATES else None,
        }
        for source in sources
    ]


def repo_tiles(views: CIViews, hide_names: bool, now: datetime) -> list[dict[str, Any]]:
    """Each configured repository: its latest build, its latest verdict and, while that is a
    failure, since when and by whose commit (the author of the first failing build of the streak)."""
    tiles = []
    for repo in views.repositories(recent=RECENT_BUILDS):
        builds = repo["builds"]  # newest first
        verdicts = [b for b in builds if b["status"] in ci_statuses.VERDICTS]
        streak = []
        for build in verdicts:
            if build["status"] not in FAILED_BUILDS:
                break
            streak.append(build)
        first_broken = streak[-1] if streak else None
        latest = builds[0] if builds else None
        verdict = verdicts[0]["status"] if verdicts else None
        building = latest is not None and latest["status"] in ci_statuses.ACTIVE
        since = first_broken["finished_at"] if first_broken else None
        shown = first_broken or latest  # the build that broke it, else the latest
        # Every verdict the wall reads is a failure, and there are older builds: it broke earlier
        # than the wall looks, by a commit it does not know.
        before_recent = bool(streak) and len(streak) == len(verdicts) and len(builds) == RECENT_BUILDS
        tiles.append(
            {
                "name": repo["name"],
                "branch": repo["branch"],
                "status": verdict or "none",
                "tone": build_tone(latest["status"] if building and not verdict else verdict),
                "building": building,
                "latest": {"id": latest["id"], "status": latest["status"], "commit": latest["short_commit"]}
                if latest
                else None,
                "since": since,
                "broken_for": broken_for(since, now),
                "broken_before_recent": before_recent,
                "broken_by": None
                if hide_names or before_recent or not first_broken
                else first_broken["author"],
                "link": f"/ci/builds/{shown['id']}" if shown else "/ci",
            }
        )
    return tiles


def machine_tiles(views: PageViews) -> list[dict[str, Any]]:
    """Each test machine and its latest run: done of total as a bar, its status in words."""
    tiles = []
    for machine in views.overview()["machines"]:
        run = machine["last_run"]
        tiles.append(
            {
                "name": machine["machine_name"],
                "link": machine["absolute_url"],
                "run": _run_tile(run) if run else None,
            }
        )
    return tiles


def _run_tile(run: dict[str, Any]) -> dict[str, Any]:
    failed = sum(run["counts"].get(status, 0) for status in FAILED_TESTS)
    return {
        "id": run["pk"],
        "status": run["status"],
        # A run still going is already red once a test failed; its status says it goes on.
        "tone": "bad" if failed else run_tone(run["status"]),
        "failed": failed,
        "done": run["done"],
        "total": run["total"],
        "percent": round(100 * run["done"] / run["total"], 1) if run["total"] else 0,
        "link": run["absolute_url"],
    }


# What an empty wall tells a newcomer to paste into the configuration file, exactly as shown
# (tests/web/test_wall.py loads these lines with the configuration's own loader).
FIRST_SOURCE = """\
[[monitor.cctray]]
name = "our Jenkins"
url = "https://ci.example.com/cc.xml"
"""
FIRST_REPO = """\
[[ci.repos]]
name = "my-project"
url = "https://git.example.com/me/my-project.git"
branch = "main"
command = "python -m pytest"
"""
SIMULATE_COMMAND = "appliance progress simulate --machines 3"


def is_empty(status: dict[str, Any]) -> bool:
    """Nothing to show yet: no source reported, no repository, no test machine, no demo."""
    sources = status["monitor"]["sources"] if status["monitor"] else []
    return not (sources or status["repos"] or status["machines"] or status["showroom"]["deployed"])
