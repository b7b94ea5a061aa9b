"""The `[monitor]` section: the status sources, when a source counts as unreachable, the colours."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from appliance.schema import Secret, positive, setting

if TYPE_CHECKING:
    from appliance.ci.settings import CIConfig


def step_phases(value: dict[str, str]) -> str | None:
    from appliance.monitor.states import PHASE_FAILED

    phases = [phase.value for phase in PHASE_FAILED]
    wrong = sorted(f"{step!r} = {phase!r}" for step, phase in value.items() if phase not in phases)
    return f"{', '.join(wrong)}: a phase must be one of {', '.join(phases)}" if wrong else None


def state_colours(value: dict[str, str]) -> str | None:
    from appliance.lamp.keys import COLOUR_KEYS
    from appliance.monitor.states import State

    states = [state.value for state in State]
    unknown = sorted(key for key in value if key not in states)
    if unknown:
        return f"{', '.join(unknown)}: not a state (states: {', '.join(states)})"
    wrong = sorted(f"{key} = {colour!r}" for key, colour in value.items() if colour not in COLOUR_KEYS)
    return f"{', '.join(wrong)}: a colour must be one of {', '.join(COLOUR_KEYS)}" if wrong else None


@dataclass(frozen=True)
class SourceConfig:
    """What every status source has: a name on the page, how often it is read, how long to wait."""

    name: str = setting("", "Name of the source on the status page; unset: made from its endpoint.")
    interval: float = setting(30.0, "Seconds between two reads of the source.", positive)
    timeout: float = setting(10.0, "Seconds to wait for an answer before a read counts as failed.", positive)

    @property
    def page_name(self) -> str:
        """What the page and the report call the source: ``name``, else one made from its endpoint."""
        return self.name or self.endpoint_name()

    def endpoint_name(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class OctopusSourceConfig(SourceConfig):
    url: str = setting(
        "", "Base URL of the Octopus server, e.g. `https://octopus.example.com/` (required).", required=True
    )
    space: str = setting("", "Space id, e.g. `Spaces-1`; unset: the legacy routes of the default space.")
    project: str = setting("", "Project id, e.g. `Projects-1` (required).", required=True)
    environment: str = setting("", "Environment id, e.g. `Environments-1` (required).", required=True)
    api_key: Secret | None = setting(None, "Octopus API key (`X-Octopus-ApiKey`), a secret reference.")
    steps: dict[str, str] = setting(
        {"Acquire packages": "acquiring", "Deploy": "deploying", "Run tests": "testing"},
        "Deployment step name = phase (waiting, acquiring, deploying, testing): a running step shows "
        "its phase, a failed one the failed form of its phase.",
        step_phases,
    )

    def endpoint_name(self) -> str:
        return f"{self.project} → {self.environment}"


@dataclass(frozen=True)
class CCTraySourceConfig(SourceConfig):
    url: str = setting(
        "", "URL of the CCTray XML feed, e.g. `https://ci.example.com/cc.xml` (required).", required=True
    )
    projects: str | list[str] = setting([], "Names of the feed's projects to watch; unset: all of them.")
    username: str = setting("", "User for HTTP basic authentication; unset: none.")
    password: Secret | None = setting(None, "Password for HTTP basic authentication, a secret reference.")

    def endpoint_name(self) -> str:
        return f"cc.xml on {urlsplit(self.url).netloc.rpartition('@')[2]}"


@dataclass(frozen=True)
class GitHubSourceConfig(SourceConfig):
    api: str = setting(
        "https://api.github.com", "Base URL of the GitHub REST API (Enterprise: `https://HOST/api/v3`)."
    )
    owner: str = setting("", "Owner of the repository (required).", required=True)
    repo: str = setting("", "Name of the repository (required).", required=True)
    workflow: str = setting("", "Workflow file name, e.g. `ci.yml`, or its id (required).", required=True)
    branch: str = setting("main", "Branch whose runs are watched.")
    token: Secret | None = setting(None, "Token sent as `Authorization: Bearer`; a secret reference.")

    def endpoint_name(self) -> str:
        return f"{self.owner}/{self.repo} {self.workflow}"


@dataclass(frozen=True)
class GitLabSourceConfig(SourceConfig):
    api: str = setting("https://gitlab.com/api/v4", "Base URL of the GitLab REST API.")
    project: str = setting(
        "", "Project id or full path, e.g. `42` or `group/project` (required).", required=True
    )
    ref: str = setting("main", "Branch or tag whose pipelines are watched.")
    token: Secret | None = setting(None, "Token sent as `PRIVATE-TOKEN`, a secret reference; unset: none.")

    def endpoint_name(self) -> str:
        return f"{self.project} {self.ref}"


@dataclass(frozen=True)
class JenkinsSourceConfig(SourceConfig):
    job: str = setting(
        "", "URL of the job, e.g. `https://jenkins.example.com/job/app` (required).", required=True
    )
    username: str = setting("", "Jenkins user for HTTP basic authentication; unset: anonymous.")
    token: Secret | None = setting(None, "That user's API token, a secret reference.")

    def endpoint_name(self) -> str:
        job = self.job.rstrip("/")
        return job.rpartition("/job/")[2] or job


@dataclass(frozen=True)
class MonitorConfig:
    stale_after: float = setting(
        120.0,
        "Seconds a source may be down (no answer, timeout, 5xx) before it shows as unreachable; "
        "a refusal (401, 403, 404, an answer of the wrong shape) shows at once.",
        positive,
    )
    colours: dict[str, str] = setting(
        {},
        'State = key of the LED_24_KEY remote, e.g. `failure = "ORANGE"`; states not named keep '
        "their default colour.",
        state_colours,
    )
    octopus: list[OctopusSourceConfig] = setting([], "Octopus Deploy projects: `[[monitor.octopus]]` tables.")
    cctray: list[CCTraySourceConfig] = setting([], "CCTray XML feeds: `[[monitor.cctray]]` tables.")
    github: list[GitHubSourceConfig] = setting([], "GitHub Actions workflows: `[[monitor.github]]` tables.")
    gitlab: list[GitLabSourceConfig] = setting([], "GitLab pipelines: `[[monitor.gitlab]]` tables.")
    jenkins: list[JenkinsSourceConfig] = setting([], "Jenkins jobs: `[[monitor.jenkins]]` tables.")
    own_ci: bool | None = setting(
        None,
        "Show the appliance's own CI, one source per `[[ci.repos]]` repository, from the server's "
        "event stream; unset: on when `[[ci.repos]]` is not empty.",
    )
    progress: bool = setting(
        False,
        "Show the system-test progress tracker, one source per test machine (a tile appears when a "
        "machine first reports), from the server's event stream; off unless set.",
    )


def own_ci_repos(monitor: MonitorConfig, ci: CIConfig) -> list[str]:
    """The repositories shown as own-CI sources: every `[[ci.repos]]` one when `own_ci` is on, which
    it is when unset and there are any."""
    enabled = monitor.own_ci if monitor.own_ci is not None else bool(ci.repos)
    return [repo.name for repo in ci.repos] if enabled else []


def source_names(monitor: MonitorConfig, ci: CIConfig) -> Iterator[tuple[str, str]]:
    """(dotted key, name) of every source, in the monitor's order: the `[[monitor.<kind>]]`
    tables, then the own CI's, named after their repositories."""
    for f in fields(MonitorConfig):
        tables = getattr(monitor, f.name)
        if isinstance(tables, list):  # the [[monitor.<kind>]] tables; the other keys are not lists
            for index, table in enumerate(tables):
                yield f"monitor.{f.name}[{index}]", table.page_name
    for index, name in enumerate(own_ci_repos(monitor, ci)):
        yield f"ci.repos[{index}]", name


def source_problems(monitor: MonitorConfig, ci: CIConfig) -> list[str]:
    """What no key's own check sees: the own CI turned on with no repository to show, and two
    sources with one name (the page and the report tell sources apart by name)."""
    problems = []
    if monitor.own_ci and not ci.repos:
        problems.append("monitor.own_ci: true, but [[ci.repos]] names no repository to show")
    first_with: dict[str, str] = {}  # name: the source that has it first
    for key, name in source_names(monitor, ci):
        other = first_with.setdefault(name, key)
        if other != key:
            problems.append(f"{key}.name: {name!r} is also the name of {other}; give each its own name")
    return problems
