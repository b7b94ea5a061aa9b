"""Generated requests against every route of the application (taken from its URL map, so a new
route is covered the day it is added): random ids, names, query strings, credentials, content
types and bodies. Whatever a client sends, the server answers below 500, every error has the one
shape, and a rejected request leaves the database as it was."""

from __future__ import annotations

import json
import re
import sqlite3
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from appliance.ci.settings import CIConfig, CIRepoConfig
from appliance.config import Config
from appliance.web import create_app

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

# Names the routes' bodies use, so that generated bodies get past the first check now and then.
FIELDS = [
    "repo", "commits", "sha", "author", "message", "committed_at", "runner", "status", "exit_code",
    "counts", "tests", "failures", "errors", "skipped", "command_seconds", "reason", "labels",
    "capacity", "builds", "build", "attempt", "commit", "lamp", "sources", "colour", "state",
    "driver", "name", "kind", "since", "checked_at", "link", "error", "detail", "machine_name",
    "timestamp", "master_scenario", "scenarios", "file_name", "file_path", "script", "timestamp_start",
    "timestamp_stop", "run", "test",
]  # fmt: skip
WORDS = ["app", "r1", "a" * 40, "passed", "failed", "RED", "success", "main", "../x", "", "m1", "t.py"]
WORDS += ["2018-12-30 13:01:57.461401", "/tests"]
QUERY_KEYS = ["limit", "offset", "attempt", "wait", "repo", "topic", "last_event_id", "page", "page_size"]

numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, 2**31, 2**63 - 1, 2**63, -(2**63) - 1, 1e20, 300000000000]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=30), st.sampled_from(WORDS))
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=24,
)
bodies = st.one_of(
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=300),
    st.sampled_from(
        [
            b'{"reason": "\\ud800", "runner": "r1", "status": "passed"}',
            b"[" * 50_000 + b"]" * 50_000,
            b'{"exit_code": 1e400}',
            b'{"committed_at": Infinity}',
            b"",
        ]
    ),
)
path_values = st.one_of(
    st.sampled_from(["1", "2", "r1", "app"]),  # ids and names that exist: half of the draws
    st.integers(min_value=-5, max_value=2**70).map(str),
    st.text(min_size=1, max_size=40),
    st.sampled_from(["..", "../etc", "a/b", "%2e%2e", "x" * 300]),
)
queries = st.dictionaries(
    st.sampled_from(QUERY_KEYS),
    st.one_of(st.integers(min_value=-(2**70), max_value=2**70).map(str), st.text(max_size=20)),
    max_size=3,
)


@pytest.fixture(scope="module")
def seeded_app(tmp_path_factory):
    """The application with a configured repository, a registered runner and a running build,
    so that generated requests reach past 'not found' into the real checks."""
    config = Config(
        data_dir=tmp_path_factory.mktemp("generated") / "data",
        # A runner's long poll waits at most this long, so generated polls end at once.
        ci=CIConfig(repos=[CIRepoConfig(name="app", url="/srv/app.git")], wait_seconds=0.01),
    )
    app = create_app(config)
    tokens = app.extensions["appliance"].credentials.tokens
    client = app.test_client()
    runner = {"Authorization": f"Bearer {tokens['runner']}"}
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    assert client.post("/api/ci/runners/r1/register", json={"capacity": 1}, headers=runner).status_code == 200
    commits = {"repo": "app", "commits": [{"sha": "a" * 40, "author": "Ada", "message": "one"}]}
    assert client.post("/api/ci/commits", json=commits, headers=admin).status_code == 200
    assert client.post("/api/ci/runners/r1/next", headers=runner).status_code == 200
    # A machine m1 whose run lists t.py in /tests, waiting, so generated starts and stops can match.
    tests = [{"file_name": "t.py", "file_path": "/tests"}]
    run = {
        "file_name": "m.py",
        "file_path": "/tests",
        "scenarios": [{"file_name": "s.py", "file_path": "/", "tests": tests}],
    }
    body = {"machine_name": "m1", "timestamp": "2018-12-30 13:01:57.461401", "master_scenario": run}
    assert client.post("/tm_api/dry_run/", json=body, headers=admin).status_code == 201
    yield app
    app.extensions["appliance"].close()


def database_dump(app) -> list[str]:
    path = app.extensions["appliance"].config.database_path
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def routes(app) -> list[tuple[str, str, list[str]]]:
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, method, sorted(rule.arguments)))
    return found


def fill(rule: str, values: dict[str, str]) -> str:
    """The rule with each ``<converter:name>`` replaced by its value, quoted as a client would."""
    return re.sub(r"<(?:[^:>]+:)?(\w+)>", lambda match: quote(values[match[1]], safe=""), rule)


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_request_gets_a_5xx_or_changes_anything_when_refused(seeded_app, data):
    rule, method, arguments = data.draw(st.sampled_from(routes(seeded_app)), label="route")
    path = fill(rule, {name: data.draw(path_values, label=name) for name in arguments})
    query = data.draw(queries, label="query")
    tokens = seeded_app.extensions["appliance"].credentials.tokens
    credential = data.draw(st.sampled_from([None, "nope", *tokens.values()]), label="credential")
    content_type = data.draw(
        st.sampled_from(["application/json", "text/plain", "application/octet-stream", None]), label="type"
    )
    body = data.draw(bodies, label="body") if method != "GET" else b""
    headers = {"Accept": "application/json"}
    if credential is not None:
        headers["Authorization"] = f"Bearer {credential}"
    if content_type is not None:
        headers["Content-Type"] = content_type
    if data.draw(st.booleans(), label="with Last-Event-ID"):
        headers["Last-Event-ID"] = data.draw(st.text(max_size=20).filter(str.isprintable), label="id")

    before = database_dump(seeded_app)
    response = seeded_app.test_client().open(
        path + ("?" + urlencode(query) if query else ""), method=method, data=body, headers=headers
    )
    answer = response.get_data()
    event(f"answered {response.status_code}")  # --hypothesis-show-statistics shows what was reached
    assert response.status_code < 500, answer[:500]
    if response.status_code >= 400:
        error = json.loads(answer)
        assert set(error) >= {"ok", "error", "status"}, error
        assert error["ok"] is False and error["status"] == response.status_code and error["error"]
        assert database_dump(seeded_app) == before
