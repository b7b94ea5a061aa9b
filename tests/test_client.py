"""The client every program talks to the server with: an answer is read up to a bound, so a
server that sends without end cannot take the program's memory."""

from __future__ import annotations

import pytest

from appliance.client import MAX_ANSWER_BYTES, Client, ServerUnavailable
from tests.monitor.fakes import Answer, FakeService


@pytest.fixture
def server():
    service = FakeService().start()
    yield service
    service.stop()


def endless_answer(sent: list[int]):
    def pieces():
        yield b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n"
        piece = b" " * 65536
        for _ in range(2 * MAX_ANSWER_BYTES // len(piece)):
            sent.append(len(piece))
            yield piece

    return pieces


def test_an_answer_larger_than_the_bound_is_refused_not_read_whole(server):
    sent: list[int] = []
    server.answer("/api/ci/builds", Answer(raw=endless_answer(sent)))
    with pytest.raises(ServerUnavailable, match="answered more than"):
        Client(server.url, "token").call("GET", "/api/ci/builds")
    assert sum(sent) < 2 * MAX_ANSWER_BYTES


def test_an_answer_within_the_bound_is_read(server):
    server.json("/api/ci/builds", {"builds": []})
    answer = Client(server.url, "token").call("GET", "/api/ci/builds")
    assert (answer.status, answer.body) == (200, {"builds": []})
