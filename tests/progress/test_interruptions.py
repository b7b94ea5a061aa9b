"""A run whose machine falls silent is announced as ``interrupted`` the moment it crosses
``interrupted_after`` (its ``progress.run`` event), once; a finished run's silence is not."""

from __future__ import annotations

import pytest

from appliance.config import Config
from appliance.progress.settings import ProgressConfig
from appliance.web import create_app
from tests.progress.conftest import dry_run, start, stop

SILENCE = 0.5


@pytest.fixture
def tracked(tmp_path):
    app = create_app(Config(data_dir=tmp_path / "data", progress=ProgressConfig(interrupted_after=SILENCE)))
    token = app.extensions["appliance"].credentials.tokens["progress"]
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    yield app, client
    app.extensions["appliance"].close()


def run_events(subscription, seconds: float) -> list[tuple[int, str]]:
    """The ``progress.run`` events that arrive within ``seconds``, as (run, status)."""
    seen = []
    while (event := subscription.get(timeout=seconds)) is not None:
        seen.append((event.data["run"], event.data["status"]))
    return seen


def test_a_silent_run_is_announced_interrupted_once_and_a_later_report_undoes_it(tracked):
    app, client = tracked
    runs = app.extensions["appliance"].bus.subscribe(["progress.run"])
    run = client.post("/tm_api/dry_run/", json=dry_run()).get_json()["run"]
    client.post("/tm_api/test_start/", json=start("01_01_test_lamp.py"))
    assert run_events(runs, 4 * SILENCE) == [(run, "waiting"), (run, "running"), (run, "interrupted")]

    assert client.post("/tm_api/test_stop/", json=stop("01_01_test_lamp.py", "passed")).status_code == 202
    assert run_events(runs, 4 * SILENCE) == [(run, "waiting"), (run, "interrupted")]


def test_a_finished_run_falling_silent_is_not_announced(tracked):
    app, client = tracked
    runs = app.extensions["appliance"].bus.subscribe(["progress.run"])
    answer = client.post("/tm_api/dry_run/", json=dry_run()).get_json()
    for test in answer["tests"]:
        for body in (start(test["file_name"]), stop(test["file_name"], "passed")):
            body.update(file_path=test["file_path"], run=answer["run"], test=test["test"])
            assert (
                client.post(f"/tm_api/test_{'stop' if 'status' in body else 'start'}/", json=body).status_code
                == 202
            )
    assert run_events(runs, 4 * SILENCE)[-1] == (answer["run"], "passed")
