"""Every error has one shape, ``{"ok": false, "error", "status"}`` for programs and a page for
browsers. The failing requests are made from the application's URL map, each by changing one thing
of a request the route accepts, so a new route is covered the day it is added."""

import re
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

import pytest
from flask import Blueprint
from werkzeug.routing import Rule

from appliance.web.inputs import LARGEST_ID
from tests.ci.conftest import commits_body
from tests.ci.test_api import sign
from tests.progress.conftest import dry_run, start, stop


def assert_error_shape(response, status, **extra):
    """The one shape; ``extra`` names the fields an answer may carry beyond it (a 409's offset)."""
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body == {"ok": False, "error": body["error"], "status": status, **extra}
    assert isinstance(body["error"], str) and body["error"]


@pytest.mark.parametrize("path", ["/api/nothing-here", "/no-such-page"])
def test_a_path_no_route_takes_is_a_404_with_one_shape(client, path):
    assert_error_shape(client.get(path), 404)


# --- every route ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    """A request a route accepts on the ``seeded_app``; each failing case changes one thing of it."""

    role: str | None = None  # whose token it sends
    showroom: bool = False  # needs a showroom (seeded_app has none): tests/web/test_showroom.py
    signed: bool = False  # a webhook delivery, signed with the repository's secret
    person: bool = False  # a person's form, taking the session's CSRF token: tests/web/test_login.py
    query: dict[str, str] = field(default_factory=dict)
    json: object = None
    data: bytes | None = None


REPORT = {"lamp": {"state": "success", "colour": "GREEN"}}  # the least a monitor reports

# Per endpoint; the path's arguments are PATH_VALUES.
ACCEPTED = {
    "static": Accepted(),
    "health.healthz": Accepted(),
    "status.page": Accepted(),
    "status.api": Accepted(),
    "monitor.report": Accepted(role="monitor", json=REPORT),
    "monitor.show": Accepted(),
    "ci.register": Accepted(role="runner", json={"capacity": 1}),
    "ci.next_build": Accepted(role="runner", query={"wait": "0"}),
    "ci.heartbeat": Accepted(role="runner", json={"builds": [{"build": 1, "attempt": 1}]}),
    "ci.append_log": Accepted(role="runner", query={"offset": "0"}, data=b"Ran 1 test\n"),
    "ci.result": Accepted(role="runner", json={"runner": "r1", "status": "passed"}),
    "ci.commits": Accepted(role="observer", json=commits_body("b")),
    "ci.hook": Accepted(signed=True, data=b'{"ref": "refs/heads/main"}'),
    "ci.cancel": Accepted(role="admin"),
    "ci.rebuild": Accepted(role="admin", json={"commit": "aaaa"}),
    "ci.builds": Accepted(query={"limit": "10"}),
    "ci.build": Accepted(),
    "ci.read_log": Accepted(query={"offset": "0"}),
    "ci.runners": Accepted(),
    "ci.repos": Accepted(),
    "ci.cctray": Accepted(),
    "ci.index": Accepted(),
    "ci.build_page": Accepted(),
    "ci.runners_page": Accepted(),
    "feeds.prometheus": Accepted(),
    "progress.dry_run": Accepted(role="progress", json=dry_run()),
    "progress.test_start": Accepted(role="progress", json=start("01_02_test_lamp.py")),
    "progress.test_stop": Accepted(role="progress", json=stop("01_01_test_lamp.py", "passed")),
    "progress.machines": Accepted(query={"page": "1"}),
    "progress.machine_last_data": Accepted(),
    "progress.machine_dry_run_datas": Accepted(query={"page_size": "5"}),
    "progress.test": Accepted(),
    "progress.scenario": Accepted(),
    "progress.master_scenario": Accepted(),
    "progress_pages.machines": Accepted(),
    "progress_pages.machine": Accepted(),
    "progress_pages.run": Accepted(),
    "progress_pages.index": Accepted(),
    "progress_pages.machine_page": Accepted(),
    "progress_pages.run_page": Accepted(),
    "showroom.api": Accepted(),
    "showroom.page": Accepted(),
    "showroom.deploy": Accepted(role="admin", json={"type": "test1", "name": "demo"}, showroom=True),
    "showroom.demo": Accepted(showroom=True),
    "showroom.start": Accepted(role="admin", showroom=True),
    "showroom.stop": Accepted(role="admin", showroom=True),
    "showroom.destroy": Accepted(role="admin", showroom=True),
    "showroom.logs": Accepted(showroom=True),
    "login.page": Accepted(),
    "login.login": Accepted(person=True),
    "login.logout": Accepted(person=True),
}
PATH_VALUES = {
    "build_id": "1", "attempt": "1", "name": "r1", "repo": "app", "filename": "style.css", "pk": "1"
}  # fmt: skip
ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")


@pytest.fixture
def seeded_app(ci_app):
    """``ci_app`` with runner r1 running build 1, a monitor report and a test machine's run with
    its first test running: what ACCEPTED needs."""
    client = ci_app.test_client()
    runner = bearer(ci_app, "runner")
    assert client.post("/api/ci/runners/r1/register", json={}, headers=runner).status_code == 200
    commits = client.post("/api/ci/commits", json=commits_body("a"), headers=bearer(ci_app, "observer"))
    assert commits.status_code == 200
    assert client.post("/api/ci/runners/r1/next?wait=0", headers=runner).json["build"] == 1
    assert client.put("/api/monitor", json=REPORT, headers=bearer(ci_app, "monitor")).status_code == 204
    progress = bearer(ci_app, "progress")
    assert client.post("/tm_api/dry_run/", json=dry_run(), headers=progress).status_code == 201
    assert (
        client.post("/tm_api/test_start/", json=start("01_01_test_lamp.py"), headers=progress).status_code
        == 202
    )
    return ci_app


def bearer(app, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {app.extensions['appliance'].credentials.tokens[role]}"}


def credentials(app, accepted: Accepted) -> dict[str, str]:
    if accepted.signed:
        return {"X-Hub-Signature-256": sign(accepted.data or b"", "s3cret")}  # ci_app's secret of "app"
    return bearer(app, accepted.role) if accepted.role else {}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: object = None
    data: bytes | None = None
    content_type: str | None = None

    def send(self, client):
        return client.open(
            f"{self.path}?{urlencode(self.query)}" if self.query else self.path,
            method=self.method,
            headers=self.headers,
            json=self.json,
            data=self.data,
            content_type=self.content_type,
        )


@dataclass(frozen=True)
class Route:
    """One rule and method of the URL map, with the request it accepts."""

    rule: Rule
    method: str
    accepted: Request
    methods_of_path: frozenset[str]  # of every rule of the same path

    @property
    def ids(self) -> list[str]:
        return [name for converter, name in ARGUMENT.findall(self.rule.rule) if converter == "id"]


def fill(rule: str, values: dict[str, str]) -> str:
    return ARGUMENT.sub(lambda match: values[match[2]], rule)


def routes(app) -> list[Route]:
    methods_of_path: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        methods_of_path.setdefault(rule.rule, set()).update(rule.methods)
    found = []
    for rule in app.url_map.iter_rules():
        accepted = ACCEPTED.get(rule.endpoint)
        assert accepted is not None, f"add to ACCEPTED a request that {rule.endpoint} ({rule.rule}) accepts"
        headers = credentials(app, accepted)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            request = Request(
                method, fill(rule.rule, PATH_VALUES), accepted.query, headers, accepted.json, accepted.data
            )
            found.append(Route(rule, method, request, frozenset(methods_of_path[rule.rule])))
    return found


# Each changes the accepted request of a route into one that must fail, or has nothing to change.


def another_method(route: Route) -> Request:
    method = next(m for m in ("DELETE", "PATCH", "PUT", "POST", "GET") if m not in route.methods_of_path)
    return replace(route.accepted, method=method, query={}, json=None, data=None)


def without_credentials(route: Route) -> Request | None:
    if route.method == "GET" or ACCEPTED[route.rule.endpoint].person:
        return None  # reading needs none; a form without its CSRF token is a 403
    return replace(route.accepted, headers={})


def with_ids_that_do_not_exist(route: Route) -> Request | None:
    if not route.ids:
        return None
    return replace(
        route.accepted,
        path=fill(route.rule.rule, {**PATH_VALUES, **dict.fromkeys(route.ids, str(LARGEST_ID))}),
    )


def with_a_body_that_is_not_json(route: Route) -> Request | None:
    if route.accepted.json is None:
        return None
    return replace(route.accepted, json=None, data=b'{"repo": "ap', content_type="application/json")


def with_a_body_of_the_wrong_shape(route: Route) -> Request | None:
    if route.accepted.json is None:
        return None
    return replace(route.accepted, json=[])


def with_query_values_that_are_not_numbers(route: Route) -> Request | None:
    if not route.accepted.query:
        return None
    return replace(route.accepted, query=dict.fromkeys(route.accepted.query, "ten"))


FAILURES = [
    (another_method, 405),
    (without_credentials, 401),
    (with_ids_that_do_not_exist, 404),
    (with_a_body_that_is_not_json, 400),
    (with_a_body_of_the_wrong_shape, 400),
    (with_query_values_that_are_not_numbers, 400),
]


# The showroom's demo routes need a real showroom, which seeded_app has not: tests/web/test_showroom.py
# sends each of them its accepted request.
@pytest.mark.parametrize(
    "endpoint", sorted(e for e, accepted in ACCEPTED.items() if not (accepted.showroom or accepted.person))
)
def test_the_request_each_case_changes_is_accepted(seeded_app, endpoint):
    """So that each failing case fails for the one thing it changed."""
    [route] = [route for route in routes(seeded_app) if route.rule.endpoint == endpoint]
    with route.accepted.send(seeded_app.test_client()) as response:
        assert response.status_code < 400, response.get_data(as_text=True)


@pytest.mark.parametrize(("change", "status"), FAILURES, ids=[change.__name__ for change, _ in FAILURES])
def test_every_failing_request_has_the_one_error_shape(seeded_app, change, status):
    client = seeded_app.test_client()
    requests = [request for route in routes(seeded_app) if (request := change(route)) is not None]
    assert requests
    wrong = []
    for request in requests:
        try:
            assert_error_shape(request.send(client), status)
        except AssertionError as exc:
            wrong.append(f"{request.method} {request.path} {request.query}: {exc}")
    assert not wrong, "\n".join(wrong)


def test_a_log_chunk_at_the_wrong_offset_says_where_the_log_is(seeded_app):
    runner = bearer(seeded_app, "runner")
    client = seeded_app.test_client()
    path = "/api/ci/builds/1/attempts/1/log"
    assert client.post(f"{path}?offset=0", data=b"Ran 1 test\n", headers=runner).json == {"offset": 11}
    assert_error_shape(client.post(f"{path}?offset=4", data=b"OK\n", headers=runner), 409, offset=11)


def test_a_call_the_state_does_not_allow_is_a_409(seeded_app):
    admin = bearer(seeded_app, "admin")
    client = seeded_app.test_client()
    assert client.post("/api/ci/builds/1/cancel", headers=admin).status_code == 200
    assert_error_shape(client.post("/api/ci/builds/1/cancel", headers=admin), 409)


# --- pages and the unexpected ----------------------------------------------------------------------


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
