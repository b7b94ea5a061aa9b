"""Bodies a hostile client sends: too large, too deep, not numbers, not Unicode. Each is a 4xx
in the one error shape, and the state it would have changed is unchanged."""

from __future__ import annotations

import pytest

from appliance.web.monitor import MAX_REPORT_BYTES
from tests.web.test_errors import assert_error_shape
from tests.web.test_monitor_report import REPORT


@pytest.fixture
def auth(app):
    return {"Authorization": f"Bearer {app.extensions['appliance'].credentials.tokens['admin']}"}


def put_raw(client, auth, data: bytes | str, content_type: str = "application/json"):
    return client.put("/api/monitor", data=data, headers={**auth, "Content-Type": content_type})


def test_a_report_larger_than_its_maximum_is_413_and_changes_nothing(client, auth):
    huge = {**REPORT, "sources": [{**REPORT["sources"][0], "detail": "x" * MAX_REPORT_BYTES}]}
    assert_error_shape(client.put("/api/monitor", json=huge, headers=auth), 413)
    assert_error_shape(client.get("/api/monitor"), 404)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"lamp": {"state": "success", "colour": "GREEN", "n": NaN}}', "not valid JSON"),
        ('{"lamp": {"state": "success", "colour": "GREEN", "n": Infinity}}', "not valid JSON"),
        (
            '{"lamp": {"state": "success", "colour": "GREEN"}, "sources": [], "x": "\\ud800"}',
            "lone surrogate",
        ),
        ("{not json", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
    ],
)
def test_malformed_json_is_400_and_changes_nothing(client, auth, body, problem):
    response = put_raw(client, auth, body)
    assert_error_shape(response, 400)
    assert problem in response.get_json()["error"]
    assert_error_shape(client.get("/api/monitor"), 404)


def test_a_body_that_is_not_declared_json_is_400(client, auth):
    assert_error_shape(put_raw(client, auth, '{"lamp": {}}', "text/plain"), 400)


@pytest.mark.parametrize("path", ["/api/ci/builds/9223372036854775808", "/api/ci/builds/0", "/ci/builds/-1"])
def test_ids_outside_the_database_range_are_404(client, path):
    assert client.get(path).status_code == 404
