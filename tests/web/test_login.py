"""People log in: the session counts as the admin's token only with the page's CSRF token, a
token needs none, a new password or time ends a login, failed logins are slowed with 429 and
``Retry-After``, ``next`` stays on this server, and ``[auth] public_status = false`` closes every
read (``/events`` on the real server too) to whoever is neither logged in nor holding a token."""

from __future__ import annotations

import logging
import re
import time
import urllib.request
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from click.testing import CliRunner

from appliance.cli import main
from appliance.config import AuthConfig, load_file
from appliance.login import LoginThrottle, Slowing, hash_password
from appliance.web import create_app
from tests.harness import raw_request, read_head
from tests.web.test_errors import assert_error_shape
from tests.web.test_roles import PATH_VALUES, ROUTE_ROLES, state_changing_routes

PASSWORD = "a long enough password"  # noqa: S105 - the test's own
PASSWORD_HASH = hash_password(PASSWORD)
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
HTML = {"Accept": "text/html"}
# A state-changing call the admin makes from a page; with no build 1 it is a 404 once let through.
ACTION = "/api/ci/builds/1/cancel"


@pytest.fixture
def make_app(make_configured_app):
    """The app with a password set and the ``[auth]`` settings given."""
    return lambda **auth: make_configured_app(auth=AuthConfig(**{"password_hash": PASSWORD_HASH, **auth}))


def csrf_of(client, path: str = "/login") -> str:
    return CSRF_FIELD.search(client.get(path, headers=HTML).get_data(as_text=True))[1]


def log_in(client, password: str = PASSWORD, next_path: str = "/", **headers):
    form = {"password": password, "csrf_token": csrf_of(client), "next": next_path}
    return client.post("/login", data=form, headers=headers)


def page_token(client) -> str:
    """The CSRF token a logged-in page carries for its script."""
    return CSRF_META.search(client.get("/", headers=HTML).get_data(as_text=True))[1]


def admin(application) -> dict[str, str]:
    return {"Authorization": f"Bearer {application.extensions['appliance'].credentials.tokens['admin']}"}


# --- changes ---------------------------------------------------------------------------------------


def test_a_change_takes_a_login_with_the_csrf_token_or_a_token_without(make_app):
    application = make_app()
    client = application.test_client()
    assert_error_shape(client.post(ACTION), 401)

    assert log_in(client).status_code == 303
    token = page_token(client)
    # Logged in: let through to the view (no build 1) only with the page's CSRF token.
    assert_error_shape(client.post(ACTION, headers={"X-CSRFToken": token}), 404)
    missing = client.post(ACTION)
    assert_error_shape(missing, 403)
    assert "CSRF token is missing" in missing.get_json()["error"]
    wrong = client.post(ACTION, headers={"X-CSRFToken": token[:-4] + "AAAA"})
    assert_error_shape(wrong, 403)
    # A browser's form field works as the header does; so does any other route's change.
    assert_error_shape(client.post(ACTION, data={"csrf_token": token}), 404)
    assert_error_shape(
        client.post("/api/ci/rebuild", json={"commit": "aaaa"}, headers={"X-CSRFToken": token}), 404
    )

    # A machine's token needs no CSRF token, with or without a cookie.
    machine = application.test_client()
    assert_error_shape(machine.post(ACTION, headers=admin(application)), 404)
    assert_error_shape(client.post(ACTION, headers=admin(application)), 404)
    # A token of the wrong role is refused even from a logged-in browser: the token decides.
    runner = application.extensions["appliance"].credentials.tokens["runner"]
    assert_error_shape(client.post(ACTION, headers={"Authorization": f"Bearer {runner}"}), 403)


def test_every_state_changing_route_takes_a_login_only_with_its_csrf_token(make_app):
    application = make_app()
    client = application.test_client()
    log_in(client)
    token = page_token(client)
    urls = application.url_map.bind("localhost")
    wrong = []
    for method, rule in state_changing_routes(application):
        if ROUTE_ROLES[method, rule.rule] in (None, "progress"):
            # The login's own forms, webhooks signed by their repository's secret, and test
            # machines' reports, which take their tokens (or none) only, on the event loop too.
            continue
        url = urls.build(rule.endpoint, {k: v for k, v in PATH_VALUES.items() if k in rule.arguments})
        without = client.open(url, method=method, json={})
        with_token = client.open(url, method=method, json={}, headers={"X-CSRFToken": token})
        if without.status_code != 403 or with_token.status_code in (401, 403):
            wrong.append(
                f"{method} {rule.rule}: {without.status_code} without, {with_token.status_code} with"
            )
    assert wrong == []


def test_the_session_cookie_is_http_only_and_same_site(make_app):
    client = make_app().test_client()
    answer = log_in(client)
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("appliance_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on a LAN
    assert "Expires=" in cookie
    secure = make_app(secure_cookie=True).test_client()
    assert "Secure" in log_in(secure).headers["Set-Cookie"]


def test_logging_out_ends_the_login_and_takes_the_csrf_token(make_app):
    client = make_app().test_client()
    log_in(client)
    token = page_token(client)
    login_page = client.get("/login", headers=HTML).get_data(as_text=True)
    assert "You are logged in" in login_page and 'type="password"' not in login_page
    assert_error_shape(client.post("/logout", headers={"Accept": "application/json"}), 403)
    assert_error_shape(client.post(ACTION, headers={"X-CSRFToken": token}), 404)  # still logged in
    out = client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["Location"] == "/login"
    assert_error_shape(client.post(ACTION, headers={"X-CSRFToken": token}), 401)
    assert 'id="login-link"' in client.get("/", headers=HTML).get_data(as_text=True)


def test_a_new_password_ends_the_logins_made_with_the_old_one(make_app):
    first = make_app()
    client = first.test_client()
    log_in(client)
    token = page_token(client)
    cookie = client.get_cookie("appliance_session").value
    # The same data directory (the same session key), another password: as after `appliance passwd`
    # and a restart.
    renewed = make_app(password_hash=hash_password("the new password, long"))
    browser = renewed.test_client()
    browser.set_cookie("appliance_session", cookie)
    assert_error_shape(browser.post(ACTION, headers={"X-CSRFToken": token}), 401)
    # The old cookie still works where the old password is in effect: only the password differs.
    same = make_app().test_client()
    same.set_cookie("appliance_session", cookie)
    assert_error_shape(same.post(ACTION, headers={"X-CSRFToken": token}), 404)


def test_appliance_passwd_takes_effect_at_once_and_ends_the_older_logins(tmp_path):
    config_file = tmp_path / "appliance.toml"
    config_file.write_text(f'data_dir = "{tmp_path / "data"}"\n\n[auth]\npassword_hash = "{PASSWORD_HASH}"\n')
    application = create_app(load_file(config_file))
    try:
        client = application.test_client()
        log_in(client)
        token = page_token(client)
        assert_error_shape(client.post(ACTION, headers={"X-CSRFToken": token}), 404)
        changed = CliRunner().invoke(
            main, ["passwd", "--config", str(config_file)], input="the new password\n"
        )
        assert changed.exit_code == 0, changed.output
        assert_error_shape(client.post(ACTION, headers={"X-CSRFToken": token}), 401)
        assert log_in(client).status_code == 401  # the old password no longer logs in
        assert log_in(client, "the new password").status_code == 303
        # A configuration that no longer loads leaves the password as it was.
        config_file.write_text(config_file.read_text() + "\n[nonsense]\n")
        assert log_in(client, "the new password").status_code == 303
    finally:
        application.extensions["appliance"].close()


def test_a_login_ends_after_session_hours(make_app):
    client = make_app(session_hours=0.5 / 3600).test_client()  # half a second
    log_in(client)
    token = page_token(client)
    assert_error_shape(client.post(ACTION, headers={"X-CSRFToken": token}), 404)
    time.sleep(0.6)
    assert_error_shape(client.post(ACTION, headers={"X-CSRFToken": token}), 401)


# --- the login itself ------------------------------------------------------------------------------


def test_a_wrong_password_is_refused_and_logged_without_it(make_app, caplog):
    client = make_app().test_client()
    with caplog.at_level(logging.INFO):
        refused = log_in(client, "not the password at all", **HTML)
    assert refused.status_code == 401
    assert "Wrong password." in refused.get_data(as_text=True)
    assert "failed login from 127.0.0.1" in caplog.text
    assert "not the password at all" not in caplog.text
    assert_error_shape(client.post(ACTION), 401)
    # A form without the CSRF token is refused before the password is looked at.
    form = client.post("/login", data={"password": PASSWORD}, headers={"Accept": "application/json"})
    assert_error_shape(form, 403)


def test_without_a_password_nobody_logs_in_and_the_page_says_how_to_set_one(make_app):
    client = make_app(password_hash="").test_client()
    page = client.get("/login", headers=HTML).get_data(as_text=True)
    assert "<code>appliance passwd</code>" in page  # the system's configuration file
    assert 'type="password"' not in page
    # The form cannot be shown, but a request made anyway is refused too.
    client.get("/login")
    with client.session_transaction() as session:
        session["csrf_token"] = "x" * 40
    answer = client.post("/login", data={"password": ""}, headers={"Accept": "application/json"})
    assert answer.status_code == 403


def test_the_page_names_the_configuration_file_the_server_runs_on(make_configured_app, tmp_path):
    config_file = tmp_path / "dev.toml"
    client = make_configured_app(file=config_file).test_client()
    page = client.get("/login", headers=HTML).get_data(as_text=True)
    assert f"<code>appliance passwd --config {config_file}</code>" in page


def test_failed_logins_are_slowed_with_429_and_retry_after(make_app):
    client = make_app().test_client()
    for _ in range(5):
        assert log_in(client, "wrong, and wrong again").status_code == 401
    slowed = log_in(client, "wrong, and wrong again", Accept="application/json")
    assert_error_shape(slowed, 429)
    assert slowed.headers["Retry-After"] == "1"
    assert "try again in 1 s" in slowed.get_json()["error"]
    # Even the right password is not checked while the client must wait.
    assert log_in(client).status_code == 429
    time.sleep(1.1)
    assert log_in(client, "wrong, and wrong again").status_code == 401
    assert log_in(client).headers["Retry-After"] == "2"  # doubled
    page = log_in(client, **HTML)
    assert page.status_code == 429 and "Too many failed logins" in page.get_data(as_text=True)


def test_the_throttle_doubles_up_to_its_longest_counts_all_clients_and_stays_bounded():
    now = [1000.0]
    throttle = LoginThrottle(
        per_address=Slowing(free=2, first=1.0, longest=8.0, forget=100.0),
        overall=Slowing(free=6, first=1.0, longest=4.0, forget=100.0),
        max_addresses=3,
        clock=lambda: now[0],
    )
    waits = []
    for _ in range(7):
        throttle.failed("a")
        waits.append(throttle.wait("a"))
    assert waits == [0, 1, 2, 4, 8, 8, 8]
    # Everybody together has failed 7 times: a newcomer waits the overall delay.
    assert throttle.wait("b") == 2
    now[0] += 200  # quiet for longer than forget: a new failure counts from one again
    throttle.failed("a")
    assert throttle.wait("a") == 0
    throttle.succeeded("a")
    for address in ("c", "d", "e", "f"):  # "a" and the oldest are forgotten beyond 3 addresses
        throttle.failed(address)
        throttle.failed(address)
    assert list(throttle._addresses) == ["d", "e", "f"]


@pytest.mark.parametrize(
    ("target", "lands"),
    [
        ("/ci?repo=app", "/ci?repo=app"),
        ("/progress", "/progress"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("", "/"),
    ],
)
def test_after_logging_in_only_a_path_on_this_server_is_followed(make_app, target, lands):
    answer = log_in(make_app().test_client(), next_path=target)
    assert answer.status_code == 303
    assert answer.headers["Location"] == lands


# --- public_status = false -------------------------------------------------------------------------

PAGES = ["/", "/ci", "/progress", "/showroom"]
READS = [*PAGES, "/api/status", "/api/ci/builds", "/cc.xml", "/api/showroom"]


def next_of(location: str) -> str:
    """Where the login page sends a person after: its ``next``."""
    parts = urlsplit(location)
    assert parts.path == "/login"
    return parse_qs(parts.query)["next"][0]


def test_closed_reads_send_browsers_to_the_login_and_refuse_programs(make_app):
    application = make_app(public_status=False)
    client = application.test_client()
    for path in PAGES:
        browser = client.get(path, headers=HTML)
        assert browser.status_code == 302, path
        assert next_of(browser.headers["Location"]) == path
    for path in READS:  # a program, and a browser on an API path
        refused = client.get(path, headers={"Accept": "application/json"})
        assert_error_shape(refused, 401)
        assert refused.headers["WWW-Authenticate"] == 'Bearer realm="appliance"'

        assert client.get(path, headers=HTML).status_code == (302 if path in PAGES else 401)
    followed = client.get("/ci?repo=app", headers=HTML)
    assert next_of(followed.headers["Location"]) == "/ci?repo=app"
    assert log_in(client, next_path="/ci?repo=app").headers["Location"] == "/ci?repo=app"
    for path in READS:
        assert client.get(path).status_code == 200, path
    # Any role's token reads; an unknown one does not.
    other = application.test_client()
    for role, token in application.extensions["appliance"].credentials.tokens.items():
        assert other.get("/api/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200, role
    assert_error_shape(other.get("/api/status", headers={"Authorization": "Bearer nope"}), 401)
    # What stays open.
    for path in ("/healthz", "/login", "/static/style.css"):
        with other.get(path) as answer:
            assert answer.status_code == 200, path
    # Changes answer for themselves, as before.
    assert_error_shape(other.post(ACTION), 401)


def test_reads_are_open_by_default(make_app):
    client = make_app().test_client()
    for path in READS:
        assert client.get(path).status_code == 200, path


def events_status(port: int, headers: str = "") -> int:
    sock = raw_request(port, f"GET /events HTTP/1.1\r\nHost: x\r\n{headers}\r\n")
    try:
        return read_head(sock)[0]
    finally:
        sock.close()


@pytest.mark.slow
def test_the_real_server_closes_events_too_and_a_browser_logs_in_over_http(start_server):
    server = start_server(f'\n[auth]\npublic_status = false\npassword_hash = "{PASSWORD_HASH}"\n')
    assert events_status(server.port) == 401
    assert events_status(server.port, f"Authorization: Bearer {server.token}\r\n") == 200
    with urllib.request.urlopen(server.url + "/healthz", timeout=10) as health:
        assert health.status == 200

    browser = requests.Session()
    browser.headers["Accept"] = "text/html"
    first = browser.get(server.url + "/ci", timeout=10)  # sent to the login, and back after it
    assert first.url.startswith(server.url + "/login?") and next_of(first.url) == "/ci"
    csrf = CSRF_FIELD.search(first.text)[1]
    logged = browser.post(
        server.url + "/login", data={"password": PASSWORD, "csrf_token": csrf, "next": "/ci"}, timeout=10
    )
    assert logged.url == server.url + "/ci" and logged.status_code == 200
    cookie = browser.cookies["appliance_session"]
    assert events_status(server.port, f"Cookie: appliance_session={cookie}\r\n") == 200
    assert events_status(server.port, f"Cookie: appliance_session={cookie[:-3]}xyz\r\n") == 401

    # The logged-in page's token and the cookie make a change, over the real server.
    token = CSRF_META.search(browser.get(server.url + "/", timeout=10).text)[1]
    answer = browser.post(server.url + ACTION, headers={"X-CSRFToken": token, "Accept": "application/json"})
    assert answer.status_code == 404 and answer.json()["error"]  # let through; there is no build 1
    refused = browser.post(server.url + ACTION, headers={"Accept": "application/json"})
    assert refused.status_code == 403 and refused.json()["status"] == 403
