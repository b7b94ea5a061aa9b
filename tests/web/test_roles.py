"""Who may change what: each state-changing route takes its role's token or the admin's, answers
another role's token with 403 and no token or an unknown one with 401."""

import stat

import pytest

from appliance.auth import ROLES, role_token, token_file
from appliance.config import AuthConfig, Config, Secret
from tests.web.test_errors import assert_error_shape

# Every state-changing route and the role whose token it takes; a new route must be added here.
ROUTE_ROLES = {
    ("PUT", "/api/monitor"): "monitor",
    ("POST", "/api/ci/runners/<name>/register"): "runner",
    ("POST", "/api/ci/runners/<name>/next"): "runner",
    ("POST", "/api/ci/runners/<name>/heartbeat"): "runner",
    ("POST", "/api/ci/builds/<id:build_id>/attempts/<id:attempt>/log"): "runner",
    ("POST", "/api/ci/builds/<id:build_id>/attempts/<id:attempt>/result"): "runner",
    ("POST", "/api/ci/commits"): "observer",
    ("POST", "/api/ci/builds/<id:build_id>/cancel"): "admin",
    ("POST", "/api/ci/rebuild"): "admin",
    ("POST", "/tm_api/dry_run/"): "progress",
    ("POST", "/tm_api/test_start/"): "progress",
    ("POST", "/tm_api/test_stop/"): "progress",
    ("POST", "/api/showroom/demos"): "admin",
    ("POST", "/api/showroom/demos/<name>/start"): "admin",
    ("POST", "/api/showroom/demos/<name>/stop"): "admin",
    ("DELETE", "/api/showroom/demos/<name>"): "admin",
    # Signed with the repository's secret instead (tests/ci/test_webhooks.py).
    ("POST", "/api/ci/hooks/<repo>"): None,
    # A person's, with the password or the session, and the CSRF token (tests/web/test_login.py).
    ("POST", "/login"): None,
    ("POST", "/logout"): None,
}
PATH_VALUES = {"name": "r1", "build_id": 1, "attempt": 1, "repo": "app"}
READING = {"GET", "HEAD", "OPTIONS"}


def state_changing_routes(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - READING):
            yield method, rule


def expected_answer(presented: str, route_role: str) -> int | str:
    if presented in ("no", "unknown"):
        return 401
    return "taken" if presented in ("admin", route_role) else 403


def test_every_state_changing_route_takes_only_its_roles_token(app, client):
    tokens = app.extensions["appliance"].credentials.tokens
    urls = app.url_map.bind("localhost")
    wrong = []
    for method, rule in state_changing_routes(app):
        assert (method, rule.rule) in ROUTE_ROLES, f"{method} {rule.rule}: give it a role in ROUTE_ROLES"
        route_role = ROUTE_ROLES[method, rule.rule]
        if route_role is None:
            continue
        url = urls.build(rule.endpoint, {k: v for k, v in PATH_VALUES.items() if k in rule.arguments})
        for presented, token in {"no": None, "unknown": "not-a-token", **tokens}.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = client.open(url, method=method, json={}, headers=headers)
            answer = response.status_code if response.status_code in (401, 403) else "taken"
            if answer != expected_answer(presented, route_role):
                wrong.append(f"{method} {rule.rule} with {presented} token: {response.status_code}")
            if answer != "taken":
                assert_error_shape(response, answer)
    assert wrong == []


def test_the_403_says_which_token_the_call_takes(app, client):
    runner = app.extensions["appliance"].credentials.tokens["runner"]
    response = client.post("/api/ci/rebuild", json={}, headers={"Authorization": f"Bearer {runner}"})
    assert_error_shape(response, 403)
    assert response.get_json()["error"] == "this call takes the admin token, not the runner token"


def test_each_role_has_its_own_generated_token_in_a_private_file(app, app_config):
    tokens = app.extensions["appliance"].credentials.tokens
    assert set(tokens) == set(ROLES) and len(set(tokens.values())) == len(ROLES)
    for role in ROLES:
        path = token_file(app_config, role)
        assert path.read_text().strip() == tokens[role] == role_token(app_config, role)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token_file(app_config, "admin").name == "api-token"
    assert token_file(app_config, "runner").name == "runner-token"


@pytest.mark.parametrize("role", [r for r in ROLES if r != "admin"])
def test_a_configured_token_is_used_and_none_is_generated(tmp_path, monkeypatch, role):
    monkeypatch.setenv("APPLIANCE_TEST_TOKEN", "from-the-environment")
    config = Config(
        data_dir=tmp_path, auth=AuthConfig(**{f"{role}_token": Secret("env:APPLIANCE_TEST_TOKEN")})
    )
    assert role_token(config, role) == "from-the-environment"
    assert not token_file(config, role).exists()
