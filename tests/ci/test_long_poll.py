"""A runner's request for work, held open by the real server: a runner that goes away while it
waits is not given a build, and waiting runners never take every request thread."""

from __future__ import annotations

from appliance.ci.settings import CIConfig, CIRepoConfig
from appliance.config import Config
from tests.conftest import http_json, json_answer, raw_request, reset, wait_until


def start_ci_server(in_process_server, tmp_path, **server_settings):
    config = Config(
        data_dir=tmp_path / "data", ci=CIConfig(repos=[CIRepoConfig(name="app", url="/srv/app.git")])
    )
    server, port = in_process_server(config, **server_settings)
    token = server.app.extensions["appliance"].credentials.tokens["admin"]
    return server, port, token


def call(port, token, method, path, body=None):
    return http_json(
        f"http://127.0.0.1:{port}{path}", method, body, headers={"Authorization": f"Bearer {token}"}
    )


def ask_for_work(port, token, runner, wait=20):
    return raw_request(
        port,
        f"POST /api/ci/runners/{runner}/next?wait={wait} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: 0\r\n\r\n",
    )


def test_a_runner_gone_while_waiting_is_not_given_the_next_build(in_process_server, tmp_path):
    server, port, token = start_ci_server(in_process_server, tmp_path)
    dispatcher = server.services.dispatcher
    assert call(port, token, "POST", "/api/ci/runners/r1/register", {"capacity": 1})[0] == 200
    waiting = ask_for_work(port, token, "r1")
    wait_until(lambda: dispatcher.runners_waiting == 1, what="the runner to wait")
    reset(waiting)  # the runner was killed mid-poll
    wait_until(lambda: dispatcher.runners_waiting == 0, timeout=5, what="the closed poll to be noticed")
    body = {"repo": "app", "commits": [{"sha": "a" * 40, "author": "Ada", "message": "one"}]}
    assert call(port, token, "POST", "/api/ci/commits", body)[0] == 200
    status, answer = call(port, token, "GET", "/api/ci/builds")
    assert status == 200
    assert [(b["status"], b["runner"]) for b in answer["builds"]] == [("queued", None)]


def test_waiting_runners_never_take_every_request_thread(in_process_server, tmp_path):
    server, port, token = start_ci_server(in_process_server, tmp_path, threads=4)
    dispatcher = server.services.dispatcher
    polls = []
    for n in range(2):
        assert call(port, token, "POST", f"/api/ci/runners/r{n}/register", {"capacity": 1})[0] == 200
        polls.append(ask_for_work(port, token, f"r{n}"))
    wait_until(lambda: dispatcher.runners_waiting == 2, what="two runners to wait")
    assert call(port, token, "POST", "/api/ci/runners/r9/register", {"capacity": 1})[0] == 200
    refused = ask_for_work(port, token, "r9")
    status, body = json_answer(refused)
    refused.close()
    assert status == 503 and body["status"] == 503 and "waiting" in body["error"]
    assert http_json(f"http://127.0.0.1:{port}/healthz")[0] == 200
    for poll in polls:
        poll.close()


def test_the_runner_still_waiting_gets_the_build(in_process_server, tmp_path):
    server, port, token = start_ci_server(in_process_server, tmp_path)
    dispatcher = server.services.dispatcher
    for runner in ("gone", "here"):
        assert call(port, token, "POST", f"/api/ci/runners/{runner}/register", {"capacity": 1})[0] == 200
    gone = ask_for_work(port, token, "gone")
    wait_until(lambda: dispatcher.runners_waiting == 1, what="the first runner to wait")
    here = ask_for_work(port, token, "here")
    wait_until(lambda: dispatcher.runners_waiting == 2, what="the second runner to wait")
    reset(gone)
    wait_until(lambda: dispatcher.runners_waiting == 1, timeout=5, what="the closed poll to be noticed")
    body = {"repo": "app", "commits": [{"sha": "b" * 40, "author": "Ada", "message": "two"}]}
    assert call(port, token, "POST", "/api/ci/commits", body)[0] == 200
    status, work = json_answer(here)
    assert status == 200 and work["commit"] == "b" * 40
    here.close()
