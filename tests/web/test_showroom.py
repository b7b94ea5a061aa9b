"""The showroom over HTTP, against a real showroom supervisord (the showroom tests' fixture): the
admin's calls from deployment to destruction, every refusal in the one error shape with nothing
changed, who may call them, ``/showroom`` against its JSON twin ``/api/showroom``, the status
page's part, and a server whose showroom is off."""

from __future__ import annotations

import json
import re
import sqlite3
import urllib.request
from contextlib import closing

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from appliance.login import hash_password
from appliance.showroom.demos import RESERVED_PARAMS
from appliance.web import create_app
from appliance.web.showroom import OFF
from tests.conftest import http_json, wait_until
from tests.harness import toml_value
from tests.showroom import conftest as showroom_conftest
from tests.showroom.conftest import fetch
from tests.twins import Element, json_of, page_at, parse, track_reads, unread_keys
from tests.web import test_generated_requests as generated
from tests.web.test_errors import assert_error_shape

# The showroom tests' fixture, shared: a showroom supervisord with the test recipes.
start_showroom = showroom_conftest.start_showroom

TAG = "<b>&amp;</b>"  # escaped on the page, shown as is
# What /api/showroom holds that the page leaves out.
NOT_ON_THE_PAGE = {
    "demos[].wanted",  # what the showroom starts again with its supervisord; the status says what is
}


@pytest.fixture
def daemon(start_showroom):
    return start_showroom()


@pytest.fixture
def showroom_app(daemon):
    """The application over the daemon's configuration (``[showroom] enabled = true``)."""
    application = create_app(daemon.config)
    yield application
    application.extensions["appliance"].close()


@pytest.fixture
def api(showroom_app):
    return showroom_app.test_client()


def bearer(application, role: str = "admin") -> dict[str, str]:
    return {"Authorization": f"Bearer {application.extensions['appliance'].credentials.tokens[role]}"}


def deploy(client, headers, type_: str, name: str, **params: str) -> dict:
    response = client.post(
        "/api/showroom/demos", json={"type": type_, "name": name, "params": params}, headers=headers
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def act(client, headers, name: str, action: str) -> dict:
    response = client.post(f"/api/showroom/demos/{name}/{action}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def state_of(application) -> tuple:
    """What a refused call must leave as it was: the database, the demos and their files."""
    services = application.extensions["appliance"]
    with closing(sqlite3.connect(services.config.database_path)) as conn:
        database = list(conn.iterdump())
    layout = services.showroom.layout if services.showroom else None
    files = []
    if layout is not None:
        tops = (layout.demos, layout.programs, layout.sites)
        files = sorted(str(path.relative_to(layout.directory)) for top in tops for path in top.rglob("*"))
    demos = application.test_client().get("/api/showroom").get_json()["demos"]
    return database, demos, files


# --- the API ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_demo_from_deployment_to_destruction(showroom_app, api, daemon):
    admin = bearer(showroom_app)
    port = daemon.port_base
    deployed = deploy(api, admin, "test1", "demo", comment="a demo")
    assert {key: deployed[key] for key in ("name", "type", "port", "params", "status", "url")} == {
        "name": "demo",
        "type": "test1",
        "port": port,
        "params": {"comment": "a demo"},
        "status": "STOPPED",
        "url": None,
    }
    assert set(deployed) == {
        "name", "type", "port", "params", "status", "wanted", "url", "apache_error", "created_at"
    }  # fmt: skip
    listed = api.get("/api/showroom").get_json()
    assert listed["enabled"] is True and listed["reachable"] is True and listed["error"] is None
    assert listed["demos"] == [deployed]
    assert listed["recipes"]["test1"] == {"params": ["name", "comment"]}

    started = act(api, admin, "demo", "start")
    assert started["status"] == "RUNNING" and started["wanted"] == "running"
    assert started["url"] == f"http://localhost:{port}/"  # the test client asks for host "localhost"
    assert api.get("/api/showroom/demos/demo").get_json() == started
    assert api.get("/api/showroom/demos/demo/logs").get_json() == {"deploy": "", "output": ""}

    stopped = act(api, admin, "demo", "stop")
    assert stopped["status"] == "STOPPED" and stopped["url"] is None
    response = api.delete("/api/showroom/demos/demo", headers=admin)
    assert response.status_code == 200 and response.get_json() == {"ok": True}
    assert_error_shape(api.get("/api/showroom/demos/demo"), 404)
    assert api.get("/api/showroom").get_json()["demos"] == []
    # Each change was announced on the bus, as the showroom's demos were after it.
    announced = [event.data for event in showroom_app.extensions["appliance"].bus.history_after(0)]
    assert [[demo["status"] for demo in data["demos"]] for data in announced] == [
        ["STOPPED"],
        ["RUNNING"],
        ["STOPPED"],
        [],
    ]


@pytest.mark.slow
def test_a_demos_link_is_on_the_host_the_client_asked_for(showroom_app, api, daemon):
    admin = bearer(showroom_app)
    port = deploy(api, admin, "testapache", "web")["port"]
    started = api.post("/api/showroom/demos/web/start", headers={**admin, "Host": "192.168.1.20:8080"})
    assert started.get_json()["url"] == f"http://192.168.1.20:{port}/"
    assert fetch(port) == b"testapache web\n"  # served indeed
    for host, link_host in [
        ("Appliance.LOCAL", "appliance.local"),  # as a browser's location.hostname has it
        ("[::1]:8080", "[::1]"),
        ("[FD00:0::20]", "[fd00::20]"),
    ]:
        demos = api.get("/api/showroom", headers={"Host": host}).get_json()["demos"]
        assert demos[0]["url"] == f"http://{link_host}:{port}/", host
        running = api.get("/api/status", headers={"Host": host}).get_json()["showroom"]["running"]
        assert running == [{"name": "web", "type": "testapache", "url": f"http://{link_host}:{port}/"}]
    # A Host that is no host name is not put in a link: the machine's name is.
    public = showroom_app.extensions["appliance"].showroom.public_host
    demos = api.get("/api/showroom", headers={"Host": "[not-an-address]"}).get_json()["demos"]
    assert demos[0]["url"] == f"http://{public}:{port}/"


def refusals_of_the_body() -> list[tuple[object, str]]:
    """Bodies of POST /api/showroom/demos and a word of the 400 that names what is wrong."""
    good = {"type": "test1", "name": "fresh"}
    return [
        ([], "JSON object"),
        ("test1", "JSON object"),
        ({**good, "port": 8080}, "unknown field 'port'"),
        ({"name": "fresh"}, "type is required"),
        ({"type": "test1"}, "name is required"),
        ({**good, "type": 1}, "type must be text"),
        ({**good, "type": ""}, "type must not be empty"),
        ({**good, "type": "t" * 64}, "type must be at most 63"),
        ({**good, "name": None}, "name must be text"),
        ({**good, "name": "n" * 64}, "name must be at most 63"),
        ({**good, "name": "Bad_Name"}, "bad demo name"),
        ({**good, "name": "-x"}, "bad demo name"),
        ({**good, "name": "apache2"}, "the showroom's Apache"),
        ({**good, "name": "a\0b"}, "name must not hold a NUL"),
        ({**good, "params": ["comment"]}, "params must be an object"),
        ({**good, "params": {f"p{i}": "" for i in range(33)}}, "at most 32 entries"),
        ({**good, "params": {"k" * 1025: ""}}, "a key of params must be at most 1024"),
        ({**good, "params": {"comment": "v" * 1025}}, "params['comment'] must be at most 1024"),
        ({**good, "params": {"comment": 1}}, "params['comment'] must be text"),
        ({**good, "params": {"comment": "a\0b"}}, "params['comment'] must not hold a NUL"),
    ]


@pytest.mark.slow
def test_every_refusal_has_the_one_shape_and_changes_nothing(showroom_app, api):
    admin = bearer(showroom_app)
    deploy(api, admin, "test1", "taken")
    deploy(api, admin, "error2", "quitter")
    before = state_of(showroom_app)
    wrong = []

    def refused(response, status: int, says: str, **extra) -> None:
        try:
            assert_error_shape(response, status, **extra)
            assert says in response.get_json()["error"], response.get_json()["error"]
        except AssertionError as exc:
            wrong.append(f"{says}: {exc}")

    for body, says in refusals_of_the_body():
        refused(api.post("/api/showroom/demos", json=body, headers=admin), 400, says)
    not_json = api.post(
        "/api/showroom/demos", data=b'{"type": "te', content_type="application/json", headers=admin
    )
    refused(not_json, 400, "not valid JSON")
    as_text = api.post("/api/showroom/demos", data=b"{}", content_type="text/plain", headers=admin)
    refused(as_text, 400, "expected a JSON body")

    def deploying(type_: str, name: str, **params: str):
        body = {"type": type_, "name": name, "params": params}
        return api.post("/api/showroom/demos", json=body, headers=admin)

    refused(deploying("test1", "taken"), 409, "this demo already exists")
    refused(deploying("nosuch", "fresh"), 404, "no recipe has that type")
    refused(
        deploying("test1", "fresh", PORT="1"), 400, "params['PORT']: the parameter 'PORT' is the showroom's"
    )
    refused(
        deploying("test1", "fresh", Name="x"), 400, "params['Name']: the parameter 'Name' is the showroom's"
    )
    refused(
        deploying("test1", "fresh", nosuch="x"),
        400,
        "params['nosuch']: the recipe test1 has no such parameter (it has: comment)",
    )
    failed = deploying("error", "failed")
    refused(failed, 422, "installation ended with an error", log=failed.get_json().get("log"))
    assert "the installation of failed fails" in failed.get_json()["log"]
    assert failed.get_json()["log"].endswith("[showroom] the recipe error exited with 1\n")
    # Its deploy log is kept, and read as the demo's logs, though there is no demo.
    assert (
        "the installation of failed fails" in api.get("/api/showroom/demos/failed/logs").get_json()["deploy"]
    )

    for method, path in [
        ("POST", "/api/showroom/demos/nosuch/start"),
        ("POST", "/api/showroom/demos/nosuch/stop"),
        ("DELETE", "/api/showroom/demos/nosuch"),
        ("GET", "/api/showroom/demos/nosuch"),
        ("GET", "/api/showroom/demos/nosuch/logs"),
    ]:
        refused(api.open(path, method=method, headers=admin), 404, "this demo does not exist")
    for method, path in [
        ("POST", "/api/showroom/demos/Bad/start"),
        ("POST", "/api/showroom/demos/apache2/stop"),
        ("DELETE", "/api/showroom/demos/-x"),
        ("GET", "/api/showroom/demos/a.b"),
        ("GET", f"/api/showroom/demos/{'x' * 64}/logs"),
    ]:
        refused(api.open(path, method=method, headers=admin), 400, "name")
    assert wrong == []
    assert state_of(showroom_app) == before

    # A process that does not stay up: the call was heard, the demo failed.
    quitting = api.post("/api/showroom/demos/quitter/start", headers=admin)
    assert_error_shape(quitting, 409)
    assert quitting.get_json()["error"].startswith("the demo's process exited at once: ")
    assert "error2 exits at once" in api.get("/api/showroom/demos/quitter/logs").get_json()["output"]


@pytest.mark.slow
def test_a_start_apache_refuses_is_answered_with_apaches_error(showroom_app, api):
    admin = bearer(showroom_app)
    deploy(api, admin, "testapachebad", "bad")
    started = act(api, admin, "bad", "start")
    assert started["status"] == "STOPPED" and started["url"] is None
    assert started["apache_error"].startswith("AH00526: Syntax error on line 3 of ")
    page = page_at(api, "/showroom")
    [demo] = page.select("tbody", data_demo="bad")
    assert demo.one("span", data_field="apache_error").text == " ".join(started["apache_error"].split())
    assert "hidden" not in demo.one("p", **{"class": "apache-error"}).attrs


@pytest.mark.slow
def test_a_showroom_that_does_not_answer_is_a_503_and_said_so(showroom_app, api, daemon):
    admin = bearer(showroom_app)
    deploy(api, admin, "test1", "demo")
    daemon.stop()
    before = state_of(showroom_app)
    for method, path in [
        ("POST", "/api/showroom/demos/demo/start"),
        ("POST", "/api/showroom/demos/demo/stop"),
        ("DELETE", "/api/showroom/demos/demo"),
        ("GET", "/api/showroom/demos/demo"),
    ]:
        response = api.open(path, method=method, headers=admin)
        assert_error_shape(response, 503)
        assert "the showroom's supervisord does not answer on " in response.get_json()["error"]
    body = {"type": "test1", "name": "other"}
    assert_error_shape(api.post("/api/showroom/demos", json=body, headers=admin), 503)
    assert state_of(showroom_app) == before
    listed = api.get("/api/showroom").get_json()
    assert listed["reachable"] is False and listed["demos"] == [] and "test1" in listed["recipes"]
    assert listed["error"].startswith("the showroom's supervisord does not answer on ")
    assert_page_shows_its_twin(api)
    status = assert_status_section_shows_its_twin(api)
    assert status["showroom"]["reachable"] is False


ROUTES = [
    ("POST", "/api/showroom/demos", {"type": "test1", "name": "intruder"}),
    ("POST", "/api/showroom/demos/demo/start", None),
    ("POST", "/api/showroom/demos/demo/stop", None),
    ("DELETE", "/api/showroom/demos/demo", None),
]


@pytest.mark.slow
def test_only_the_admin_token_changes_the_showroom(showroom_app, api):
    admin = bearer(showroom_app)
    deploy(api, admin, "test1", "demo")
    before = state_of(showroom_app)
    for method, path, body in ROUTES:
        assert_error_shape(api.open(path, method=method, json=body), 401)
        assert_error_shape(
            api.open(path, method=method, json=body, headers={"Authorization": "Bearer x"}), 401
        )
        for role in ("runner", "observer", "monitor", "progress"):
            refused = api.open(path, method=method, json=body, headers=bearer(showroom_app, role))
            assert_error_shape(refused, 403)
            assert refused.get_json()["error"] == f"this call takes the admin token, not the {role} token"
    assert state_of(showroom_app) == before


# Deployments, mostly of the right shape, so that generated ones reach the domain often.
recipe_types = st.sampled_from(["test1", "error", "nosuch"])
demo_names = st.sampled_from(["demo", "other", "failed"])
odd_texts = st.sampled_from(["Bad", "apache2", "", "-x", "x" * 64, "a\0b"])
deployments = st.fixed_dictionaries(
    {
        "type": st.one_of(recipe_types, odd_texts, generated.json_values),
        "name": st.one_of(demo_names, odd_texts, generated.json_values),
    },
    optional={
        "params": st.dictionaries(
            st.sampled_from(["comment", "PORT", "name", "nosuch", ""]) | st.text(max_size=5),
            st.text(max_size=10) | generated.json_values,
            max_size=3,
        )
        | generated.json_values,
        "port": generated.json_values,
    },
).map(lambda body: json.dumps(body).encode())


def assert_answered_without_change(application, method: str, path: str, body: bytes, headers: dict) -> None:
    """Below 500, every error in the one shape, nothing changed by a refusal."""
    headers = {"Accept": "application/json", "Content-Type": "application/json", **headers}
    before = state_of(application)
    response = application.test_client().open(path, method=method, data=body, headers=headers)
    answer = response.get_data()
    event(f"{method} answered {response.status_code}")  # --hypothesis-show-statistics: what was reached
    assert response.status_code < 500, answer[:500]
    if response.status_code >= 400:
        error = json.loads(answer)
        assert set(error) >= {"ok", "error", "status"}, error
        assert error["ok"] is False and error["status"] == response.status_code and error["error"]
        assert state_of(application) == before


GENERATED = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.mark.slow
@GENERATED
@given(data=st.data())
def test_no_request_to_the_showroom_gets_a_5xx_or_changes_anything_when_refused(showroom_app, data):
    routes = [route for route in generated.routes(showroom_app) if "showroom" in route[0]]
    rule, method, arguments = data.draw(st.sampled_from(routes), label="route")
    names = st.one_of(demo_names, generated.path_values)
    path = generated.fill(rule, {name: data.draw(names, label=name) for name in arguments})
    tokens = showroom_app.extensions["appliance"].credentials.tokens
    credential = data.draw(st.sampled_from([tokens["admin"], None, "nope", tokens["runner"]]), label="token")
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    body = data.draw(deployments | generated.bodies, label="body") if method != "GET" else b""
    assert_answered_without_change(showroom_app, method, path, body, headers)


@pytest.mark.slow
@GENERATED
@given(body=deployments)
def test_no_deployment_gets_a_5xx_or_changes_anything_when_refused(showroom_app, body):
    assert_answered_without_change(showroom_app, "POST", "/api/showroom/demos", body, bearer(showroom_app))


# --- the page and its twin ----------------------------------------------------------------------


def expected_from(twin: dict) -> dict:
    """What /showroom must show of /api/showroom, in the page's words."""
    demos, recipes, reachable = twin["demos"], twin["recipes"], twin["reachable"]
    assert reachable or not demos
    note = None
    if twin["enabled"] and not demos:  # a showroom that is off has no table
        note = (
            "No demo is deployed: deploy one below."
            if reachable
            else "The demos are not known while the showroom does not answer."
        )
    return {
        "error": twin["error"],
        "enabled": twin["enabled"],  # its table, token and form
        "note": note,
        "recipes": {
            type_: [param for param in recipes[type_]["params"] if param.upper() not in RESERVED_PARAMS]
            or ["This recipe takes no parameters."]
            for type_ in list(recipes)
        },
        "demos": [
            {
                "name": demo["name"],
                "cells": [
                    demo["name"],
                    demo["type"] or "?",
                    demo["status"],
                    "" if demo["port"] is None else str(demo["port"]),
                    demo["url"] or "",
                ],
                "colour": f"state state-{demo['status'].lower()}",
                "link": demo["url"],
                "params": [f"{key}={demo['params'][key]}" for key in list(demo["params"])],
                "created_at": demo["created_at"] or "",
                "apache_error": " ".join(demo["apache_error"].split()) if demo["apache_error"] else None,
                "start": "disabled" if demo["status"] in ("RUNNING", "STARTING") else "enabled",
                "stop": "disabled" if demo["status"] == "STOPPED" else "enabled",
            }
            for demo in demos
        ],
    }


def shown_on(page: Element) -> dict:
    """What /showroom shows, in the terms of ``expected_from``."""
    error = page.one("p", id="showroom-error")
    tables = page.select("table", id="demos")
    note = next(iter(page.select("tbody", id="no-demos")), None)
    demos = []
    for tbody in page.select("tbody", data_demo=True):
        row = tbody.one("tr", **{"class": "demo-row"})
        cells = row.select("td")
        apache = tbody.one("p", **{"class": "apache-error"})
        links = cells[4].select("a")
        demos.append(
            {
                "name": tbody.attrs["data-demo"],
                "cells": [cell.text for cell in cells[:5]],
                "colour": cells[2].one("span").attrs["class"],
                "link": links[0].attrs["href"] if links else None,
                "params": [item.text for item in cells[5].select("li")],
                "created_at": cells[6].text,
                "apache_error": None if "hidden" in apache.attrs else apache.one("span").text,
                "start": "disabled"
                if "disabled" in row.one("button", data_action="start").attrs
                else "enabled",
                "stop": "disabled"
                if "disabled" in row.one("button", data_action="stop").attrs
                else "enabled",
            }
        )
        assert tbody.one("details", **{"class": "logs"}).one("summary").text == "Logs"
    return {
        "error": None if "hidden" in error.attrs else error.text,
        "enabled": bool(tables),
        "note": None if note is None or "hidden" in note.attrs else note.text,
        "recipes": {
            fieldset.attrs["data-recipe"]: [label.text for label in fieldset.select("label")]
            or [fieldset.one("p").text]
            for fieldset in page.select("fieldset", data_recipe=True)
        },
        "demos": demos,
    }


def assert_page_shows_its_twin(client) -> dict:
    """Compare /showroom with /api/showroom, both ways; returns the JSON."""
    twin = json_of(client, "/api/showroom")
    page = page_at(client, "/showroom")
    assert shown_on(page) == expected_from(twin)
    assert [option.text for option in page.select("option")] == list(twin["recipes"])
    assert unread_keys(twin) <= NOT_ON_THE_PAGE
    return twin


@pytest.mark.slow
def test_the_page_shows_its_twin(showroom_app, api, daemon):
    admin = bearer(showroom_app)
    assert_page_shows_its_twin(api)  # none yet
    deploy(api, admin, "test1", "idle", comment=TAG)
    deploy(api, admin, "testapache", "web", comment="served")
    act(api, admin, "web", "start")
    deploy(api, admin, "testapachebad", "bad")
    act(api, admin, "bad", "start")
    twin = assert_page_shows_its_twin(api)
    assert [(demo["name"], demo["status"]) for demo in twin["demos"]] == [
        ("bad", "STOPPED"),
        ("idle", "STOPPED"),
        ("web", "RUNNING"),
    ]
    page = page_at(api, "/showroom")
    assert shown_on(page)["demos"][1]["params"] == [f"comment={TAG}"]  # escaped, shown as is
    web = twin["demos"][2]
    assert page.one("tbody", data_demo="web").one("a").attrs["href"] == f"http://localhost:{web['port']}/"
    token = showroom_app.extensions["appliance"].config.data_dir / "secrets" / "api-token"
    assert page.one("code", id="token-hint").text == str(token)
    assert page.one("input", id="showroom-token").attrs["type"] == "password"
    assert [link.text for link in page.one("nav").select("a")][-1] == "Showroom"


# --- the status page ----------------------------------------------------------------------------


def expected_status_section(showroom: dict) -> dict:
    """What the status page must show of ``/api/status``'s ``showroom``."""
    running, deployed = showroom["running"], showroom["deployed"]  # deployed: None while not known
    assert (deployed is None) == (not showroom["reachable"])
    return {
        "off": not showroom["enabled"],
        "error": showroom["error"],
        "count": None if deployed is None else f"{deployed} deployed, {len(running)} running",
        "running": [[demo["name"], demo["url"], demo["type"] or "?"] for demo in running],
    }


def shown_status_section(page: Element) -> dict:
    """What the status page shows of the showroom, in the terms of ``expected_status_section``."""
    section = page.one("section", id="showroom-status")
    error = section.one("p", id="showroom-error")
    count = section.one("p", id="showroom-count")
    return {
        "off": "hidden" not in error.attrs and error.text == OFF,
        "error": None if "hidden" in error.attrs else error.text,
        "count": None if "hidden" in count.attrs else count.text,
        "running": [
            [item.one("a").text, item.one("a").attrs["href"], item.one("span").text]
            for item in section.select("li", data_demo=True)
        ],
    }


def assert_status_section_shows_its_twin(client) -> dict:
    status = track_reads(client.get("/api/status").get_json())
    page = parse(client.get("/").get_data(as_text=True))
    assert shown_status_section(page) == expected_status_section(status["showroom"])
    assert not {key for key in unread_keys(status) if key.startswith("showroom")}
    return status


@pytest.mark.slow
def test_the_status_page_shows_the_running_demos(showroom_app, api):
    admin = bearer(showroom_app)
    deploy(api, admin, "test1", "idle")
    port = deploy(api, admin, "testapache", "web")["port"]
    act(api, admin, "web", "start")
    status = assert_status_section_shows_its_twin(api)
    assert status["showroom"] == {
        "enabled": True,
        "reachable": True,
        "error": None,
        "deployed": 2,
        "running": [{"name": "web", "type": "testapache", "url": f"http://localhost:{port}/"}],
    }


# --- a showroom that is off ---------------------------------------------------------------------


def test_a_showroom_that_is_off_says_how_to_turn_it_on(app, client):
    admin = bearer(app)
    assert client.get("/api/showroom").get_json() == {
        "enabled": False,
        "reachable": False,
        "error": OFF,
        "recipes": {},
        "demos": [],
    }
    before = state_of(app)
    for method, path, body in [*ROUTES, ("GET", "/api/showroom/demos/demo", None)]:
        response = client.open(path, method=method, json=body, headers=admin)
        assert_error_shape(response, 404)
        assert response.get_json()["error"] == "the showroom is off: set [showroom] enabled = true"
    assert_error_shape(client.get("/api/showroom/demos/demo/logs"), 404)
    # What the client must fix is said first, on or off.
    assert_error_shape(client.post("/api/showroom/demos", json={"name": "x"}, headers=admin), 400)
    assert_error_shape(client.post("/api/showroom/demos", json={"type": "test1", "name": "x"}), 401)
    assert state_of(app) == before

    page = page_at(client, "/showroom")
    assert shown_on(page) == expected_from(json_of(client, "/api/showroom"))
    assert page.select("form") == [] and page.select("input") == []
    status = assert_status_section_shows_its_twin(client)
    assert status["showroom"]["error"] == OFF
    assert page_at(client, "/").one("p", id="showroom-error").text == OFF


# --- in a browser -------------------------------------------------------------------------------


def server_with(daemon, start_server, extra: str = ""):
    """``appliance server`` with the daemon's showroom, and ``extra`` TOML after it."""
    showroom = daemon.config.showroom
    return start_server(
        "\n[showroom]\nenabled = true\n"
        f"recipes = {toml_value(str(showroom.recipes))}\n"
        f"directory = {toml_value(str(showroom.directory))}\n"
        f"port_base = {showroom.port_base}\nports = {showroom.ports}\n" + extra
    )


def state_on(name: str) -> str:
    """A JavaScript condition: the demo's status shown on the page."""
    return f"""document.querySelector('tbody[data-demo="{name}"] .state').textContent"""


@pytest.mark.slow
def test_a_person_deploys_starts_and_opens_a_demo_in_a_browser(daemon, start_server, browser, tmp_path):
    server = server_with(daemon, start_server)
    page = browser.new_page()
    page.goto(server.url + "/showroom")
    page.wait_for_selector('#live[data-state="open"]')
    page.evaluate("() => { window.notReloaded = true; }")  # gone if the page loads again
    assert "api-token" in page.locator("#token-hint").inner_text()

    page.fill("#showroom-token", server.token)
    page.select_option("#deploy-type", "testapache")
    page.fill("#deploy-name", "web")
    page.fill('fieldset[data-recipe="testapache"] input[data-param="comment"]', "from the browser")
    page.click("#deploy-button")
    demo = page.locator('tbody[data-demo="web"]')
    demo.locator(".state").wait_for()
    assert demo.locator(".state").inner_text() == "STOPPED"
    assert demo.locator('[data-field="params"] li').all_inner_texts() == ["comment=from the browser"]

    # A refusal is said on the page, in the server's words.
    page.fill("#deploy-name", "web")
    page.click("#deploy-button")
    page.wait_for_selector("#deploy-error:not([hidden])")
    assert page.locator("#deploy-error").inner_text() == "this demo already exists"

    demo.locator('button[data-action="start"]').click()
    page.wait_for_function(f"() => {state_on('web')} === 'RUNNING'")
    link = demo.locator('[data-field="url"] a')
    port = daemon.port_base
    assert link.get_attribute("href") == f"http://127.0.0.1:{port}/"  # the host the page was opened on
    assert page.evaluate("() => window.notReloaded") is True
    demo.locator("details.logs summary").click()  # fetched as it opens
    deploy_log = """document.querySelector('tbody[data-demo="web"] pre[data-log="deploy"]')"""
    page.wait_for_function(f"() => {deploy_log}.textContent === '(empty)'")
    page.screenshot(path=tmp_path / "showroom-running.png", full_page=True)

    # A change made elsewhere shows without a reload: the showroom announces it.
    headers = {"Authorization": f"Bearer {server.token}"}
    status, stopped = http_json(f"{server.url}/api/showroom/demos/web/stop", "POST", {}, headers)
    assert status == 200, stopped
    page.wait_for_function(f"() => {state_on('web')} === 'STOPPED'")
    assert demo.locator('[data-field="url"] a').count() == 0
    demo.locator('button[data-action="start"]').click()
    link.wait_for()
    assert page.evaluate("() => window.notReloaded") is True
    href = link.get_attribute("href")

    status_page = browser.new_page()
    status_page.goto(server.url + "/")
    assert status_page.locator("#showroom-count").inner_text() == "1 deployed, 1 running"
    assert status_page.locator('#showroom-running li[data-demo="web"] a').get_attribute("href") == href
    status_page.close()

    # Its link leads to the demo (Apache may still be reloading gracefully when it first shows).
    wait_until(lambda: _answers(href), what=f"the demo at {href}")
    link.click()
    page.wait_for_url(href)
    assert page.locator("body").inner_text().strip() == "testapache web"
    page.screenshot(path=tmp_path / "showroom-demo.png")


@pytest.mark.slow
def test_a_demo_that_does_not_stay_up_is_said_so_on_the_page(daemon, start_server, browser, tmp_path):
    server = server_with(daemon, start_server)
    headers = {"Authorization": f"Bearer {server.token}"}
    body = {"type": "error2", "name": "quitter"}
    assert http_json(f"{server.url}/api/showroom/demos", "POST", body, headers)[0] == 201
    page = browser.new_page()
    page.goto(server.url + "/showroom")
    page.wait_for_selector('#live[data-state="open"]')
    page.evaluate("() => { window.notReloaded = true; }")
    page.fill("#showroom-token", server.token)
    demo = page.locator('tbody[data-demo="quitter"]')
    demo.locator('button[data-action="start"]').click()
    demo.locator(".demo-error:not([hidden])").wait_for()
    assert demo.locator(".demo-error").inner_text().startswith("start: the demo's process exited at once: ")
    # supervisord retries it, then gives up: the page follows it there, without a reload.
    page.wait_for_function(f"() => {state_on('quitter')} === 'FATAL'")
    assert demo.locator('button[data-action="start"]').is_enabled()
    assert page.evaluate("() => window.notReloaded") is True
    demo.locator("details.logs summary").click()
    output = demo.locator('pre[data-log="output"]')
    page.wait_for_function(
        """() => document.querySelector('tbody[data-demo="quitter"] pre[data-log="output"]')
                 .textContent.includes('error2 exits at once')"""
    )
    assert "error2 exits at once" in output.inner_text()
    page.screenshot(path=tmp_path / "showroom-fatal.png", full_page=True)


@pytest.mark.slow
def test_a_person_logs_in_deploys_and_stops_a_demo_and_logs_out_in_a_browser(
    daemon, start_server, browser, tmp_path
):
    password = "the showroom's password"  # noqa: S105 - the test's own
    extra = f'\n[auth]\npublic_status = false\npassword_hash = "{hash_password(password)}"\n'
    server = server_with(daemon, start_server, extra)
    page = browser.new_page()
    page.goto(server.url + "/showroom")  # closed: sent to the login page, and back after it
    page.wait_for_url(re.compile(r"/login\?next="))
    page.fill("#password", "not the password")
    page.click("#login-button")
    assert page.locator("#login-error").inner_text() == "Wrong password."
    page.fill("#password", password)
    page.click("#login-button")
    page.wait_for_url(server.url + "/showroom")
    page.wait_for_selector('#live[data-state="open"]')  # /events takes the cookie too
    assert page.locator("#showroom-token").count() == 0  # no token to paste while logged in
    cookie = next(c for c in page.context.cookies() if c["name"] == "appliance_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    page.select_option("#deploy-type", "testapache")
    page.fill("#deploy-name", "web")
    page.click("#deploy-button")
    demo = page.locator('tbody[data-demo="web"]')
    demo.locator(".state").wait_for()
    demo.locator('button[data-action="start"]').click()
    page.wait_for_function(f"() => {state_on('web')} === 'RUNNING'")
    demo.locator('button[data-action="stop"]').click()
    page.wait_for_function(f"() => {state_on('web')} === 'STOPPED'")
    assert demo.locator(".demo-error").is_hidden()
    page.screenshot(path=tmp_path / "showroom-logged-in.png", full_page=True)

    page.click("#logout")
    page.wait_for_url(server.url + "/login")
    assert page.locator("#login-link").count() == 1
    page.goto(server.url + "/showroom")
    page.wait_for_url(re.compile(r"/login\?next="))  # logged out: closed again
    # The cookie of before the logout is refused the change it made.
    headers = {"Accept": "application/json"}
    status, body = http_json(f"{server.url}/api/showroom/demos/web/start", "POST", {}, headers)
    assert status == 401, body


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False
