import pytest
from flask import Blueprint


def assert_error_shape(response, status):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body == {"ok": False, "error": body["error"], "status": status}
    assert isinstance(body["error"], str) and body["error"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/nothing-here", 404),
        ("GET", "/no-such-page", 404),
        ("POST", "/healthz", 405),
        ("DELETE", "/api/status", 405),
    ],
)
def test_every_error_for_a_program_is_json_with_one_shape(client, method, path, status):
    assert_error_shape(client.open(path, method=method), status)


def test_browsers_get_an_error_page(client):
    response = client.get("/no-such-page", headers={"Accept": "text/html,*/*;q=0.8"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert b"Back to the status page" in response.data


def test_an_unexpected_error_is_a_500_that_reveals_nothing(app):
    broken = Blueprint("broken", __name__)

    @broken.get("/api/broken")
    def fail():
        raise RuntimeError("secret detail /etc/shadow")

    app.register_blueprint(broken)
    response = app.test_client().get("/api/broken")
    assert_error_shape(response, 500)
    assert b"secret detail" not in response.data
