"""The real server in-process (uvicorn, the gateway, Flask's threads) on a free port: open streams
hold no thread, clients that go away or trickle are noticed, and every refusal has the one shape."""

from __future__ import annotations

import socket

import pytest

from appliance.ci.queue import CommitSpec
from appliance.ci.settings import CIConfig, CIRepoConfig
from appliance.config import Config
from appliance.web import server as gateway_module
from appliance.web.inputs import MAX_BODY_BYTES
from tests.conftest import http_json, json_answer, open_stream, raw_request, read_until, reset, wait_until


def test_open_streams_hold_no_thread_the_api_keeps_answering(in_process_server):
    _server, port = in_process_server(threads=2)
    streams = [open_stream(port) for _ in range(60)]
    try:
        assert http_json(f"http://127.0.0.1:{port}/healthz")[0] == 200
        assert http_json(f"http://127.0.0.1:{port}/api/ci/builds")[0] == 200
    finally:
        for sock in streams:
            sock.close()


def test_streams_closed_abruptly_are_forgotten_at_once(in_process_server):
    server, port = in_process_server()
    streams = [open_stream(port) for _ in range(20)]
    wait_until(lambda: len(server.gateway.streams.streams) == 20, what="20 open streams")
    for sock in streams:
        reset(sock)
    # No keep-alive needs to pass: the loop sees each connection close.
    wait_until(lambda: not server.gateway.streams.streams, timeout=5, what="the streams to be forgotten")
    assert not server.app.extensions["appliance"].bus.listening_to("stack")


def test_a_stream_gets_live_events_of_its_topics_and_replays_what_it_missed(in_process_server):
    server, port = in_process_server()
    bus = server.app.extensions["appliance"].bus
    sock = open_stream(port, "/events?topic=ci")
    wait_until(lambda: bus.listening_to("ci.build"), what="the stream to listen")
    bus.publish("stack", {"n": 0})
    missed = bus.publish("ci.build", {"n": 1})
    received = read_until(sock, missed.sse.encode())
    assert b'"n":0' not in received
    sock.close()
    bus.publish("ci.build", {"n": 2})
    again = open_stream(port, "/events?topic=ci", f"Last-Event-ID: {missed.id}\r\n")
    assert b'data: {"n":2}' in read_until(again, b'{"n":2}')
    again.close()


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        ("GET /events?last_event_id=abc", 400),
        ("GET /events?last_event_id=99999999999999999999999", 400),
        ("POST /events", 405),
    ],
)
def test_stream_refusals_have_the_one_error_shape(in_process_server, request_line, status):
    _server, port = in_process_server()
    sock = raw_request(port, f"{request_line} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
    answer_status, body = json_answer(sock)
    sock.close()
    assert answer_status == status
    assert body["ok"] is False and body["status"] == status and body["error"]


def test_streams_beyond_the_maximum_get_503(in_process_server):
    _server, port = in_process_server(max_streams=3)
    streams = [open_stream(port) for _ in range(3)]
    sock = raw_request(port, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
    status, body = json_answer(sock)
    assert status == 503 and body["status"] == 503
    for each in [*streams, sock]:
        each.close()


def test_a_stream_that_stops_reading_is_cut_off(in_process_server, monkeypatch):
    monkeypatch.setattr("appliance.web.streams.STREAM_QUEUE", 4)
    server, port = in_process_server()
    bus = server.app.extensions["appliance"].bus
    sock = open_stream(port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    wait_until(lambda: server.gateway.streams.streams, what="the stream")
    # Far more than the socket buffers hold: the stream's queue fills and the server lets it go.
    for n in range(2000):
        bus.publish("flood", {"n": n, "padding": "x" * 8192})
        if not server.gateway.streams.streams:
            break
    wait_until(lambda: not server.gateway.streams.streams, what="the stream to be cut off")
    assert http_json(f"http://127.0.0.1:{port}/healthz")[0] == 200
    sock.close()


def test_a_body_larger_than_any_call_takes_is_refused_unread(in_process_server):
    _server, port = in_process_server()
    sock = raw_request(
        port,
        f"PUT /api/monitor HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n",
    )
    status, body = json_answer(sock)
    sock.close()
    assert status == 413 and body["status"] == 413


@pytest.mark.parametrize("pieces", [1, 16], ids=["at-once", "in-pieces"])
def test_a_request_head_beyond_its_bound_is_431_and_the_connection_closed(in_process_server, pieces):
    _server, port = in_process_server()
    # Exactly the bound, then a few bytes more: the server has read all that was sent when it
    # refuses, so it closes with nothing unread (no reset that could lose its answer).
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: "
    head += b"a" * (gateway_module.HEAD_BYTES - len(head))
    sock = raw_request(port, "")
    size = len(head) // pieces
    for start in range(0, len(head), size):
        sock.sendall(head[start : start + size])
    sock.sendall(b"aaaaaaaa")
    status, body = json_answer(sock)
    assert status == 431 and body["status"] == 431 and str(gateway_module.HEAD_BYTES) in body["error"]
    assert sock.recv(1) == b""  # closed after the refusal
    sock.close()
    assert http_json(f"http://127.0.0.1:{port}/healthz")[0] == 200


def test_a_head_within_its_bound_then_a_large_body_is_answered(in_process_server):
    _server, port = in_process_server()
    headers = "".join(f"X-Filler-{n}: {'a' * 1000}\r\n" for n in range(12))
    body = b'{"sources": {}, "padding": "' + b"b" * 200_000 + b'"}'
    sock = raw_request(
        port,
        f"PUT /api/monitor HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}"
        f"Content-Length: {len(body)}\r\n\r\n",
        body,
    )
    status, answer = json_answer(sock)
    sock.close()
    assert status == 401, answer  # read whole and judged by the API (no token), not refused unread


def test_a_trickling_body_holds_no_thread_and_times_out(in_process_server, monkeypatch):
    monkeypatch.setattr(gateway_module, "BODY_SECONDS", 1.0)
    _server, port = in_process_server(threads=1)
    slow = raw_request(
        port,
        "PUT /api/monitor HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n",
        b"{",
    )
    assert http_json(f"http://127.0.0.1:{port}/healthz")[0] == 200
    status, body = json_answer(slow)
    slow.close()
    assert status == 408 and body["status"] == 408


def test_the_server_starts_and_stops_in_process_twice(in_process_server):
    for _ in range(2):
        server, port = in_process_server()
        assert http_json(f"http://127.0.0.1:{port}/healthz")[0] == 200
        server.stop()


def test_stopping_the_server_stops_its_lease_timer_and_stack_watcher(in_process_server, tmp_path):
    ci = CIConfig(repos=[CIRepoConfig(name="app", url="/srv/app.git")])
    for n in range(2):
        server, _port = in_process_server(Config(data_dir=tmp_path / f"data{n}", ci=ci))
        dispatcher = server.services.dispatcher
        dispatcher.register("r1", [], 1, set())
        dispatcher.add_commits("app", [CommitSpec(sha="a" * 40, author="Ada", message="one")])
        assert dispatcher.next("r1", wait=0) is not None  # a lease: the timer runs
        timer, watcher = dispatcher.lease_timer.thread, server.services.stack_watcher
        assert timer is not None and timer.is_alive() and watcher.is_alive()
        server.stop()
        for thread in (timer, watcher):
            thread.join(timeout=15)
        assert not timer.is_alive() and not watcher.is_alive()
