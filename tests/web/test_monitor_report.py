import pytest

from tests.web.test_errors import assert_error_shape

REPORT = {
    "lamp": {"state": "test_failed", "colour": "RED", "meaning": "ignored", "driver": {"key": "RED"}},
    "sources": [
        {
            "name": "integration",
            "kind": "octopus",
            "state": "test_failed",
            "since": "2026-11-22T10:00:00+00:00",
            "checked_at": "2026-11-22T10:01:00+00:00",
            "link": "http://octopus.example/app#/deployments/1",
            "error": None,
            "detail": "Run tests: Failed",
        }
    ],
}


@pytest.fixture
def auth(app):
    return {"Authorization": f"Bearer {app.extensions['appliance'].credentials.tokens['monitor']}"}


def test_reporting_needs_the_token(client):
    assert_error_shape(client.put("/api/monitor", json=REPORT), 401)
    assert_error_shape(client.put("/api/monitor", json=REPORT, headers={"Authorization": "Bearer nope"}), 401)
    assert client.put("/api/monitor", json=REPORT).headers["WWW-Authenticate"].startswith("Bearer")
    assert_error_shape(client.get("/api/monitor"), 404)


def test_a_report_is_shown_on_the_page_and_its_json(client, auth):
    assert client.put("/api/monitor", json=REPORT, headers=auth).status_code == 204
    body = client.get("/api/monitor").get_json()
    assert (body["state"], body["colour"], body["meaning"]) == ("test_failed", "RED", "Tests failed")
    assert body["sources"][0]["meaning"] == "Tests failed"
    assert client.get("/api/status").get_json()["monitor"]["colour"] == "RED"
    page = client.get("/").data.decode()
    assert 'data-colour="RED"' in page
    assert "Tests failed" in page
    assert 'data-source="integration"' in page


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"lamp": {"state": "green", "colour": "GREEN"}}, "lamp.state: 'green' is not one of"),
        ({"lamp": {"state": "success", "colour": "green; drop"}}, "lamp.colour: 'green; drop' is not a key"),
        ({"lamp": {"state": "success", "colour": "GREEN"}, "sources": [{"name": "x"}]}, "sources[0].state"),
        ({"lamp": {"state": "success", "colour": "GREEN"}, "sources": "all"}, "sources: expected a list"),
        ([], 'expected a JSON object with "lamp"'),
    ],
)
def test_a_malformed_report_is_refused_with_where_it_is_wrong(client, auth, body, message):
    response = client.put("/api/monitor", json=body, headers=auth)
    assert_error_shape(response, 400)
    assert message in response.get_json()["error"]
    assert_error_shape(client.get("/api/monitor"), 404)


def test_a_body_that_is_not_json_is_a_400(client, auth):
    response = client.put("/api/monitor", data="colour=red", headers=auth)
    assert_error_shape(response, 400)


def test_pages_are_woken_only_when_the_picture_changes(client, auth, app):
    bus = app.extensions["appliance"].bus
    with bus.subscribe(["monitor"]) as sub:
        client.put("/api/monitor", json=REPORT, headers=auth)
        client.put("/api/monitor", json=REPORT, headers=auth)
        green = {**REPORT, "lamp": {**REPORT["lamp"], "state": "success", "colour": "GREEN"}}
        client.put("/api/monitor", json=green, headers=auth)
        assert [sub.get(0.1).data["colour"], sub.get(0.1).data["colour"]] == ["RED", "GREEN"]
        assert sub.get(0.01) is None


def test_a_lamp_backend_that_cannot_send_shows_on_the_page(client, auth):
    failing = {
        "key": "RED",
        "backends": [
            {"name": "lirc", "ok": False, "error": "lircd does not answer on /run/lirc/lircd", "detail": "x"},
            {"name": "virtual", "ok": True, "error": None, "detail": "showing RED"},
        ],
    }
    report = {**REPORT, "lamp": {**REPORT["lamp"], "driver": failing}}
    assert client.put("/api/monitor", json=report, headers=auth).status_code == 204
    page = client.get("/").data.decode()
    assert "lirc:\n        cannot send: lircd does not answer on /run/lirc/lircd" in page
    assert "virtual:\n        showing RED" in page
