"""The event loop's path for tests' starts and stops (``appliance/web/reports.py``), called as
uvicorn calls it: who may report by the peer's address, and that what the server answers is what
the blueprint answers (the refusals themselves are checked over both in ``test_refused.py``)."""

from __future__ import annotations

import asyncio
import json

import pytest

from appliance.config import Config
from appliance.progress.settings import ProgressConfig
from appliance.schema import Secret
from appliance.web import create_app
from appliance.web.reports import ReportPath, report_parser
from tests.conftest import http_json
from tests.progress.conftest import dry_run, start


@pytest.fixture
def make_path(tmp_path):
    made = []

    def make(**progress) -> tuple[ReportPath, object]:
        app = create_app(Config(data_dir=tmp_path / f"data{len(made)}", progress=ProgressConfig(**progress)))
        services = app.extensions["appliance"]
        path = ReportPath(services.progress, services.reporters)
        made.append((app, path))
        machine = app.test_client()
        machine.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {services.credentials.tokens['progress']}"
        assert machine.post("/tm_api/dry_run/", json=dry_run()).status_code == 201
        return path, app

    yield make
    for app, path in made:
        path.close()
        app.extensions["appliance"].close()


def call(path: ReportPath, client: str, body: dict, token: str | None = None) -> tuple[int, dict]:
    """One POST of ``body`` to ``/tm_api/test_start/`` from the address ``client``."""
    headers = [(b"content-type", b"application/json")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {"type": "http", "method": "POST", "path": "/tm_api/test_start/", "headers": headers}
    scope["client"] = (client, 40000)
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def run() -> None:
        await path(scope, json.dumps(body).encode(), send, report_parser(scope))

    asyncio.run(run())
    return sent[0]["status"], json.loads(b"".join(m.get("body", b"") for m in sent[1:]))


def test_anonymous_reports_come_from_loopback_only_unless_the_lan_is_allowed(make_path):
    loopback_only, _ = make_path(allow_anonymous=True)
    assert call(loopback_only, "192.168.1.20", start("01_01_test_lamp.py"))[0] == 401
    assert call(loopback_only, "127.0.0.1", start("01_01_test_lamp.py"))[0] == 202
    assert call(loopback_only, "127.0.0.1", start("01_02_test_lamp.py"), token="unknown")[0] == 401  # noqa: S106
    from_lan, _ = make_path(allow_anonymous=True, anonymous_from_lan=True)
    status, answer = call(from_lan, "192.168.1.20", start("01_01_test_lamp.py"))
    assert status == 202 and answer["status"] == "running"


def test_without_a_token_a_report_is_401_and_another_roles_token_403(make_path):
    path, app = make_path()
    status, answer = call(path, "127.0.0.1", start("01_01_test_lamp.py"))
    assert status == 401 and answer == {"ok": False, "error": answer["error"], "status": 401}
    runner = app.extensions["appliance"].credentials.tokens["runner"]
    assert call(path, "127.0.0.1", start("01_01_test_lamp.py"), token=runner)[0] == 403


def test_only_posts_of_starts_and_stops_take_this_path_and_a_get_is_flasks_405(in_process_server):
    assert report_parser({"method": "POST", "path": "/tm_api/test_stop"}) is not None
    assert report_parser({"method": "POST", "path": "/tm_api/dry_run/"}) is None
    assert report_parser({"method": "GET", "path": "/tm_api/test_start/"}) is None
    _server, port = in_process_server()
    status, answer = http_json(f"http://127.0.0.1:{port}/tm_api/test_start/")
    assert status == 405 and answer["status"] == 405


def test_a_machines_own_token_reports_for_that_machine_alone(make_path, tmp_path):
    (tmp_path / "rig-token").write_text("rig-1-secret\n")
    path, _app = make_path(tokens={"machine #1": Secret(f"file:{tmp_path / 'rig-token'}")})
    other = start("01_01_test_lamp.py", machine="machine #2")
    status, answer = call(path, "127.0.0.1", other, token="rig-1-secret")  # noqa: S106
    assert status == 403 and "machine #1" in answer["error"]
    assert call(path, "127.0.0.1", start("01_01_test_lamp.py"), token="rig-1-secret")[0] == 202  # noqa: S106
