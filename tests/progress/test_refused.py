"""What a test machine gets wrong is a 4xx in the one error shape that changes nothing; and who may
report: the progress token or the admin's, or none where ``[progress] allow_anonymous`` says."""

from __future__ import annotations

import json
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.config import Config, ServerConfig
from appliance.progress.settings import ProgressConfig
from appliance.schema import Secret
from appliance.web import Server, create_app
from tests.conftest import HttpClient, free_port, wait_until
from tests.progress.conftest import database_dump, dry_run, start, stop
from tests.web.test_errors import assert_error_shape

PATHS = ["/tm_api/dry_run/", "/tm_api/test_start/", "/tm_api/test_stop/"]
GOOD = {"/tm_api/dry_run/": dry_run(), "/tm_api/test_start/": start("01_02_test_lamp.py")}
GOOD["/tm_api/test_stop/"] = stop("01_01_test_lamp.py", "passed")

wrong_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["x" * 300_000, "running", "waiting", "9999-12-31 23:59:60", "0000-01-01"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def spoilt(body: dict, path: list, value: object, drop: bool) -> dict:
    """The body with the value at ``path`` replaced, or removed."""
    copy = json.loads(json.dumps(body))
    holder = copy
    for step in path[:-1]:
        holder = holder[step]
    if drop:
        del holder[path[-1]]
    else:
        holder[path[-1]] = value
    return copy


def places(body: object, prefix: tuple = ()) -> list[list]:
    found = []
    items = body.items() if isinstance(body, dict) else enumerate(body) if isinstance(body, list) else []
    for key, value in items:
        found.append([*prefix, key])
        found += places(value, (*prefix, key))
    return found


@pytest.fixture(scope="module", params=["flask", "http"])
def reporting(request, tmp_path_factory):
    """An app with a run whose first test runs, and a client holding the progress token: Flask's
    test client (the blueprint's views), or real HTTP to the whole server, where the event loop
    answers starts and stops itself (``appliance/web/reports.py``)."""
    config = Config(data_dir=tmp_path_factory.mktemp("refused") / "data")
    if request.param == "flask":
        app = create_app(config)
        client = app.test_client()
        client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {credentials(app)}"
    else:
        port = free_port()
        server = Server(config.replace(server=ServerConfig(port=port)))
        app = server.app
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_until(lambda: server.started, what="the server to listen")
        client = HttpClient(f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {credentials(app)}"})
    assert client.post("/tm_api/dry_run/", json=dry_run()).status_code == 201
    assert client.post("/tm_api/test_start/", json=start("01_01_test_lamp.py")).status_code == 202
    yield app, client
    if request.param == "flask":
        app.extensions["appliance"].close()
    else:
        server.stop()
        thread.join(timeout=15)


def credentials(app) -> str:
    return app.extensions["appliance"].credentials.tokens["progress"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_spoilt_report_is_a_4xx_that_changes_nothing(reporting, data):
    app, client = reporting
    path = data.draw(st.sampled_from(PATHS), label="path")
    where = data.draw(st.sampled_from(places(GOOD[path])), label="where")
    drop = data.draw(st.booleans(), label="drop")
    body = spoilt(GOOD[path], where, data.draw(wrong_values, label="value"), drop)
    before = database_dump(app)
    response = client.post(path, data=json.dumps(body), content_type="application/json")
    if response.status_code < 400:  # some spoilt bodies are still good ones (a script dropped)
        return
    assert response.status_code < 500
    assert_error_shape(response, response.status_code)
    assert database_dump(app) == before


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"{not json", "application/json"),
        (b'{"machine_name": "machine #1"}', "text/plain"),
        (b"[1, 2]", "application/json"),
        (b"null", "application/json"),
    ],
)
def test_non_json_or_the_wrong_content_type_is_a_400(reporting, path, data, content_type):
    app, client = reporting
    before = database_dump(app)
    response = client.post(path, data=data, content_type=content_type)
    assert_error_shape(response, 400)
    assert database_dump(app) == before


def test_an_unknown_machine_is_a_404_and_an_unknown_status_names_the_allowed(reporting):
    _app, client = reporting
    unknown = client.post("/tm_api/test_start/", json=start("01_01_test_lamp.py", machine="nobody"))
    assert_error_shape(unknown, 404)
    bad = client.post("/tm_api/test_stop/", json=stop("01_01_test_lamp.py", "green"))
    assert_error_shape(bad, 400)
    assert "passed" in bad.get_json()["error"] and "cancelled" in bad.get_json()["error"]


def test_a_dry_run_too_large_is_refused(reporting):
    _app, client = reporting
    body = dry_run()
    body["master_scenario"]["scenarios"][0]["tests"] *= 2000
    assert_error_shape(client.post("/tm_api/dry_run/", json=body), 400)


@pytest.fixture
def make_app(make_configured_app):
    return lambda **progress: make_configured_app(progress=ProgressConfig(**progress))


def test_without_a_token_a_report_is_401_by_default(make_app):
    response = make_app().test_client().post("/tm_api/dry_run/", json=dry_run())
    assert_error_shape(response, 401)


def test_anonymous_reports_come_from_loopback_only_unless_the_lan_is_allowed(make_app):
    app = make_app(allow_anonymous=True)
    local = app.test_client()
    assert local.post("/tm_api/dry_run/", json=dry_run()).status_code == 201
    lan = app.test_client()
    lan.environ_base["REMOTE_ADDR"] = "192.168.1.20"
    assert_error_shape(lan.post("/tm_api/dry_run/", json=dry_run()), 401)
    unknown_token = local.post("/tm_api/dry_run/", json=dry_run(), headers={"Authorization": "Bearer x"})
    assert_error_shape(unknown_token, 401)
    app.extensions["appliance"].close()
    lan_app = make_app(allow_anonymous=True, anonymous_from_lan=True).test_client()
    lan_app.environ_base["REMOTE_ADDR"] = "192.168.1.20"
    assert lan_app.post("/tm_api/dry_run/", json=dry_run()).status_code == 201


def test_a_run_silent_too_long_shows_interrupted(make_app):
    app = make_app(allow_anonymous=True, interrupted_after=60)
    client = app.test_client()
    machine_id = client.post("/tm_api/dry_run/", json=dry_run()).get_json()["machine"]
    views = app.extensions["appliance"].progress.views
    views.clock = lambda: 10**10
    shown = client.get(f"/tm_api/machine_last_data/{machine_id}/").get_json()["last_master_scenario"]
    assert shown["status"] == "interrupted"


def test_a_machines_own_token_reports_for_that_machine_alone_and_changes_nothing_else(make_app, tmp_path):
    (tmp_path / "rig-token").write_text("rig-1-secret\n")
    app = make_app(tokens={"machine #1": Secret(f"file:{tmp_path / 'rig-token'}")})
    rig = app.test_client()
    rig.environ_base["HTTP_AUTHORIZATION"] = "Bearer rig-1-secret"
    assert rig.post("/tm_api/dry_run/", json=dry_run()).status_code == 201
    before = database_dump(app)
    assert_error_shape(rig.post("/tm_api/dry_run/", json=dry_run("machine #2")), 403)
    assert_error_shape(
        rig.post("/tm_api/test_start/", json=start("01_01_test_lamp.py", machine="machine #2")), 403
    )
    assert database_dump(app) == before
    assert rig.post("/tm_api/test_start/", json=start("01_01_test_lamp.py")).status_code == 202
    wrong = rig.post("/tm_api/test_start/", json=start("x.py"), headers={"Authorization": "Bearer wrong"})
    assert_error_shape(wrong, 401)
