"""Sources that trickle their answer or send a huge one, against fake servers on 127.0.0.1: a read
has a total deadline, connect to last byte, and a size limit, and one slow source does not hold
the monitor back from the others."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests

from appliance.monitor.settings import CCTraySourceConfig
from appliance.monitor.sources import SourceError
from appliance.monitor.sources.cctray import CCTraySource
from appliance.monitor.sources.http import Http
from appliance.monitor.sources.octopus import OctopusSource
from appliance.monitor.states import State
from tests.monitor import octopus_fake as octopus
from tests.monitor.conftest import stepped_monitor
from tests.monitor.fakes import Answer, FakeService

MIB = 1024 * 1024
HEAD = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
DEPLOYMENTS = f"{octopus.api()}/deployments"


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv(octopus.KEY_VARIABLE, octopus.API_KEY)


class Streamed:
    """A raw answer for the fake: ``head``, then ``count`` pieces of JSON whitespace, ``every``
    seconds apart; it counts the bytes of the pieces the fake wrote."""

    def __init__(self, fake: FakeService, head: bytes, piece: int, count: int, every: float = 0.0):
        self.fake, self.head, self.piece, self.count, self.every = fake, head, b" " * piece, count, every
        self.total = piece * count
        self.sent = 0

    def __call__(self) -> Iterator[bytes]:
        yield self.head
        for _ in range(self.count):
            if self.every and self.fake.release.wait(self.every):
                return
            yield self.piece
            self.sent += len(self.piece)  # the fake resumes this generator once it has written the piece


def trickle(fake: FakeService, head: bytes = HEAD) -> Streamed:
    """A byte every 50 ms for 30 s: each well within the tests' 0.5 s timeout, the whole far beyond."""
    return Streamed(fake, head, piece=1, count=600, every=0.05)


def huge(fake: FakeService) -> Streamed:
    """64 MiB, without a length."""
    return Streamed(fake, HEAD, piece=MIB, count=64)


def cctray(url: str, http: Http) -> CCTraySource:
    return CCTraySource(CCTraySourceConfig(url=url, interval=0.05, timeout=0.5), http)


def test_a_trickling_answer_is_cut_at_the_deadline(fake, http):
    answer = trickle(fake)
    fake.answer("/cc.xml", Answer(raw=answer))
    with pytest.raises(SourceError) as raised:
        cctray(f"{fake.url}/cc.xml", http).poll()
    assert str(raised.value) == f"answer from {fake.url}/cc.xml took longer than 0.5 s"
    assert answer.sent < answer.total


def test_trickling_headers_are_cut_at_the_deadline(fake, http):
    answer = trickle(fake, b"HTTP/1.0 200 OK\r\nX-Trickle: ")
    fake.answer("/cc.xml", Answer(raw=answer))
    with pytest.raises(SourceError) as raised:
        cctray(f"{fake.url}/cc.xml", http).poll()
    assert str(raised.value) == f"answer from {fake.url}/cc.xml took longer than 0.5 s"
    assert answer.sent < answer.total


def test_a_huge_answer_is_read_only_up_to_the_limit(fake, http):
    answer = huge(fake)
    fake.answer("/cc.xml", Answer(raw=answer))
    with pytest.raises(SourceError) as raised:
        cctray(f"{fake.url}/cc.xml", http).poll()
    assert str(raised.value) == f"answer from {fake.url}/cc.xml larger than 4 MiB"
    # What was read up to the limit and what the sockets' buffers took: far from all of it.
    assert answer.sent < answer.total // 2


def test_the_deadline_holds_through_a_proxy(fake):
    session = requests.Session()
    session.trust_env = False  # this proxy, whatever the environment names
    session.proxies = {"http": fake.url}  # the fake answers the path of any URL it is asked for
    http = Http(session)
    answer = trickle(fake)
    fake.answer("/cc.xml", Answer(raw=answer))
    try:
        with pytest.raises(SourceError) as raised:
            cctray("http://ci.example/cc.xml", http).poll()
    finally:
        http.close()
    assert str(raised.value) == "answer from http://ci.example/cc.xml took longer than 0.5 s"
    assert [seen.path for seen in fake.seen] == ["/cc.xml"]
    assert answer.sent < answer.total


def test_all_the_requests_of_one_read_share_the_deadline(fake, http):
    octopus.deployment(fake, "Success")
    task = f"{octopus.api()}/tasks/{octopus.TASK}"
    for path in (DEPLOYMENTS, task):  # each well within the timeout, the two together not
        fake.answer(path, replace(fake.routes[path][-1], delay=0.3))
    with pytest.raises(SourceError) as raised:
        OctopusSource(octopus.settings(fake, timeout=0.5), http).poll()
    assert str(raised.value) == f"no answer from {fake.url}{task} within 0.5 s"


@pytest.mark.parametrize(
    ("how", "at_1010"),
    [
        ("trickle", State.SUCCESS),  # a slow server may be faster next time: the last state stays
        ("huge", State.UNREACHABLE),  # no status is that large: waiting will not make one
    ],
)
def test_a_too_slow_answer_keeps_the_last_state_until_stale_after_a_too_large_one_not(
    fake, http, how, at_1010
):
    octopus.deployment(fake, "Success")
    answer, expected = {
        "trickle": (trickle(fake), "took longer than 0.5 s"),
        "huge": (huge(fake), "larger than 4 MiB"),
    }[how]
    source = OctopusSource(octopus.settings(fake, interval=10), http)
    with stepped_monitor([source], stale_after=60) as stepped:
        assert stepped.at(1000) == (State.SUCCESS, "GREEN")
        fake.answer(DEPLOYMENTS, Answer(raw=answer, when=octopus.LATEST))
        for now, state in [(1010, at_1010), (1060, State.UNREACHABLE)]:
            assert stepped.at(now)[0] is state, now
            assert stepped.source()["error"] == f"answer from {fake.url}{DEPLOYMENTS} {expected}"
        octopus.deployment(fake, "Success")
        assert stepped.at(1070) == (State.SUCCESS, "GREEN")
        assert stepped.source()["error"] is None


def test_a_trickling_source_does_not_hold_the_others_back(fake, http):
    feed = b'<Projects><Project name="app" lastBuildStatus="Success"/></Projects>'
    fake.answer("/cc.xml", Answer(body=feed, content_type="application/xml"))
    octopus.deployment(fake, "Success")
    sources = [cctray(f"{fake.url}/cc.xml", http), OctopusSource(octopus.settings(fake), http)]
    with stepped_monitor(sources, stale_after=60) as stepped:
        assert stepped.at(1000) == (State.SUCCESS, "GREEN")
        fake.answer("/cc.xml", Answer(raw=trickle(fake)))
        fake.fail(DEPLOYMENTS, 500)
        # Each round reads the trickling source for its 0.5 s deadline, then the other one.
        assert stepped.at(1010) == (State.SUCCESS, "GREEN")
        assert stepped.source(1)["error"] == f"HTTP 500 Internal Server Error from {fake.url}{DEPLOYMENTS}"
        assert stepped.at(1060) == (State.UNREACHABLE, "PURPLE")
        trickling, failing = stepped.source(0), stepped.source(1)
    assert trickling["error"] == f"answer from {fake.url}/cc.xml took longer than 0.5 s"
    assert failing["state"] == "unreachable"
    assert failing["error"] == f"HTTP 500 Internal Server Error from {fake.url}{DEPLOYMENTS}"
