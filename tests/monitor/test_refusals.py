"""A source that is refused (credentials, a wrong URL, an answer of the wrong shape) turns
unreachable at the next poll: waiting cannot heal it. One that may come back by itself (no
connection, no answer in time, a server error, a rate limit) keeps its last state for
``stale_after``. Either way its error shows at once, on its tile and in ``/api/status``.

Against fake servers on 127.0.0.1 and the real server in this process, with the monitor stepped on
its own clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus

import pytest

from appliance.auth import role_token
from appliance.config import Config
from appliance.monitor.sources import Reading, Source
from appliance.monitor.sources.http import Http
from appliance.monitor.sources.octopus import OctopusSource
from appliance.monitor.states import State
from tests.conftest import http_json
from tests.monitor import octopus_fake as octopus
from tests.monitor import test_cctray as cctray
from tests.monitor import test_github as github
from tests.monitor import test_gitlab as gitlab
from tests.monitor import test_jenkins as jenkins
from tests.monitor.conftest import SteppedMonitor
from tests.monitor.fakes import Answer, FakeService

STALE_AFTER = 60.0
GREEN = (State.SUCCESS, "GREEN", None)


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(octopus.KEY_VARIABLE, octopus.API_KEY)


@dataclass(frozen=True)
class Reporting:
    """A stepped monitor of one source that reports to the server in this process."""

    stepped: SteppedMonitor
    status_url: str

    def at(self, now: float) -> tuple[State, str | None, str | None]:
        """Step at ``now``: the state, the lamp's key and the error on the source's tile, once
        ``/api/status`` is checked to show the same state and error."""
        state, key = self.stepped.at(now)
        tile = self.stepped.source()
        _status, body = http_json(self.status_url)
        served = body["monitor"]
        assert (served["state"], served["sources"][0]["state"], served["sources"][0]["error"]) == (
            state.value, tile["state"], tile["error"],
        )  # fmt: skip
        return state, key, tile["error"]


@pytest.fixture
def stepped(in_process_server, tmp_path) -> Iterator[Callable[[Source], Reporting]]:
    config = Config(data_dir=tmp_path / "data")
    _server, port = in_process_server(config)
    server_url = f"http://127.0.0.1:{port}"
    token = role_token(config, "monitor")
    made: list[SteppedMonitor] = []

    def make(source: Source) -> Reporting:
        made.append(SteppedMonitor([source], stale_after=STALE_AFTER, server_url=server_url, token=token))
        return Reporting(made[-1], f"{server_url}/api/status")

    yield make
    for monitor in made:
        monitor.close()


@dataclass(frozen=True)
class Kind:
    """A kind of source against its fake: how it reads green, and the request that a test breaks."""

    green: Callable[[FakeService], None]
    source: Callable[[FakeService, Http], Source]
    path: str
    when: dict[str, str] = field(default_factory=dict)
    wrong_shape: bytes = b"{}"  # the expected format, without what the source reads
    wrong_format: bytes = b"<html><body>Sign in</body></html>"  # a login page


KINDS: dict[str, Kind] = {
    "octopus": Kind(
        green=lambda fake: octopus.deployment(fake, "Success"),
        source=lambda fake, http: OctopusSource(octopus.settings(fake), http),
        path=f"{octopus.api()}/deployments",
        when=octopus.LATEST,
        wrong_shape=b'{"Items": "none"}',
    ),
    "cctray": Kind(
        green=lambda fake: cctray.publish(fake, ("app", "Sleeping", "Success")),
        source=lambda fake, http: cctray.source(fake, http, projects="app"),
        path=cctray.FEED,
        wrong_shape=b'<Projects><Project name="web" lastBuildStatus="Success"/></Projects>',
        wrong_format=b'{"projects": []}',
    ),
    "github": Kind(
        green=lambda fake: github.runs(fake, github.run("completed", "success")),
        source=github.source,
        path=github.RUNS,
        when=github.LATEST,
        wrong_shape=b'{"total_count": 0}',
    ),
    "gitlab": Kind(
        green=lambda fake: gitlab.latest(fake, "success"),
        source=gitlab.source,
        path=f"{gitlab.PROJECT}/pipelines/latest",
        when={"ref": "main"},
        wrong_shape=b"[]",
    ),
    "jenkins": Kind(
        green=lambda fake: jenkins.build(fake, "SUCCESS"),
        source=jenkins.source,
        path=f"{jenkins.JOB}/lastBuild/api/json",
        wrong_shape=b'{"number": 12, "result": "SUCCESS"}',
    ),
}


def break_source(fake: FakeService, kind: Kind, how: str) -> None:
    """Make the kind's request fail in one way."""
    if how == "refused connection":
        fake.stop()
    elif how == "timeout":
        fake.answer(kind.path, Answer(hang=True, when=kind.when))
    elif how == "wrong shape":
        fake.answer(kind.path, Answer(body=kind.wrong_shape, when=kind.when))
    elif how == "wrong format":
        fake.answer(kind.path, Answer(body=kind.wrong_format, content_type="text/html", when=kind.when))
    else:  # an HTTP status, and a header after a space: "403 X-RateLimit-Remaining: 0"
        status, _, header = how.partition(" ")
        if header:  # written as it stands: the fake has no other way to send a header
            head = f"HTTP/1.0 {status} {HTTPStatus(int(status)).phrase}\r\n{header}\r\n\r\n".encode()
            fake.answer(kind.path, Answer(raw=lambda: [head], when=kind.when))
        else:
            fake.answer(kind.path, Answer(int(status), b"no", "text/plain", when=kind.when))


def names(cases: list[tuple[str, str, str]]) -> list[str]:
    return [f"{kind} {how}" for kind, how, _error in cases]


# (kind, how it breaks, the error its tile shows: {place} is the URL of the request that broke)
REFUSALS = [
    ("octopus", "401", "HTTP 401 Unauthorized from {place}: the credentials were refused"),
    ("octopus", "403", "HTTP 403 Forbidden from {place}: the credentials were refused"),
    ("octopus", "404", "HTTP 404 Not Found: {place}"),
    ("octopus", "wrong shape", "unexpected answer from deployments: 'Items' should be list, got 'none'"),
    ("octopus", "wrong format", "invalid JSON from {place}: Expecting value: line 1 column 1 (char 0)"),
    ("cctray", "401", "HTTP 401 Unauthorized from {place}: the credentials were refused"),
    ("cctray", "403", "HTTP 403 Forbidden from {place}: the credentials were refused"),
    ("cctray", "404", "HTTP 404 Not Found: {place}"),
    ("cctray", "wrong shape", "the feed has no project 'app' (it has: web)"),
    ("cctray", "wrong format", "invalid XML from {place}: not well-formed (invalid token): line 1, column 0"),
    (
        "github",
        "wrong shape",
        "unexpected answer from workflow runs: 'workflow_runs' should be list, got None",
    ),
    ("gitlab", "wrong shape", "unexpected answer from pipeline: expected a JSON object, got list"),
    ("jenkins", "wrong shape", "unexpected answer from lastBuild: 'building' should be bool, got None"),
]

OUTAGES = [
    *[
        (kind, how, error)
        for kind in ("octopus", "cctray")
        for how, error in [
            ("500", "HTTP 500 Internal Server Error from {place}"),
            ("503", "HTTP 503 Service Unavailable from {place}"),
            ("refused connection", "cannot connect to {place}: Connection refused"),
            ("timeout", "no answer from {place} within 0.5 s"),
        ]
    ],
    ("github", "403 X-RateLimit-Remaining: 0", "HTTP 403 Forbidden from {place}: rate limited"),
    ("github", "403 Retry-After: 60", "HTTP 403 Forbidden from {place}: rate limited"),
    ("gitlab", "429", "HTTP 429 Too Many Requests from {place}: rate limited"),
]


@pytest.mark.parametrize(("kind", "how", "error"), REFUSALS, ids=names(REFUSALS))
def test_a_refused_source_turns_unreachable_at_the_next_poll(fake, http, stepped, kind, how, error):
    watched = KINDS[kind]
    watched.green(fake)
    monitor = stepped(watched.source(fake, http))
    assert monitor.at(1000) == GREEN
    break_source(fake, watched, how)
    error = error.format(place=fake.url + watched.path)
    assert monitor.at(1010) == (State.UNREACHABLE, "PURPLE", error)
    watched.green(fake)
    assert monitor.at(1020) == GREEN


@pytest.mark.parametrize(("kind", "how", "error"), OUTAGES, ids=names(OUTAGES))
def test_an_outage_keeps_the_last_state_until_stale_after_and_shows_its_error_at_once(
    fake, http, stepped, kind, how, error
):
    watched = KINDS[kind]
    watched.green(fake)
    monitor = stepped(watched.source(fake, http))
    assert monitor.at(1000) == GREEN
    error = error.format(place=fake.url + watched.path)
    break_source(fake, watched, how)
    assert monitor.at(1010) == (State.SUCCESS, "GREEN", error)
    assert monitor.at(1000 + STALE_AFTER - 1) == (State.SUCCESS, "GREEN", error)
    assert monitor.at(1000 + STALE_AFTER) == (State.UNREACHABLE, "PURPLE", error)


def test_a_source_refused_from_the_start_is_unreachable_at_its_first_poll(fake, http, stepped):
    octopus_kind = KINDS["octopus"]
    break_source(fake, octopus_kind, "401")
    monitor = stepped(octopus_kind.source(fake, http))
    assert monitor.at(1000)[:2] == (State.UNREACHABLE, "PURPLE")


def test_a_refusal_during_an_outage_turns_unreachable_at_once(fake, http, stepped):
    octopus_kind = KINDS["octopus"]
    octopus_kind.green(fake)
    monitor = stepped(octopus_kind.source(fake, http))
    assert monitor.at(1000) == GREEN
    break_source(fake, octopus_kind, "503")
    assert monitor.at(1010)[:2] == (State.SUCCESS, "GREEN")
    break_source(fake, octopus_kind, "401")
    assert monitor.at(1020)[:2] == (State.UNREACHABLE, "PURPLE")


class BuggySource:
    """A source whose ``poll`` fails with ``bug`` once it is set, as a bug in a source would."""

    kind = name = "buggy"
    interval = 10.0
    bug: Exception | None = None

    def poll(self) -> Reading:
        if self.bug is not None:
            raise self.bug
        return Reading(State.SUCCESS)


def test_a_bug_in_a_source_turns_it_unreachable_at_once(stepped):
    source = BuggySource()
    monitor = stepped(source)
    assert monitor.at(1000) == GREEN
    source.bug = KeyError("status")
    assert monitor.at(1010) == (State.UNREACHABLE, "PURPLE", "internal error: KeyError")
