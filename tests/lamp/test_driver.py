"""LampDriver on a real lircd and irsend, with a clock the test moves: what reaches the lamp, when."""

from __future__ import annotations

import json
import logging

import pytest

from appliance.lamp.backends import LircBackend, VirtualBackend
from appliance.lamp.driver import LampDriver

pytestmark = pytest.mark.slow

ON, RED, GREEN, OFF = 0x00F7C03F, 0x00F720DF, 0x00F7A05F, 0x00F740BF


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def driver(lircd, clock) -> LampDriver:
    return LampDriver([LircBackend(lircd.socket)], resend_seconds=300, clock=clock)


def test_nothing_is_due_before_the_first_colour(lircd, driver, clock):
    driver.tick()

    assert driver.next_due(clock.now) is None
    assert driver.status()["key"] is None
    assert lircd.codes() == []


def test_sends_on_first_then_the_colour(lircd, driver):
    driver.show("RED")

    assert lircd.codes() == [ON, RED]


def test_sends_only_on_change(lircd, driver, clock):
    driver.show("RED")
    clock.now += 10
    driver.show("RED")
    driver.tick()
    driver.show("GREEN")

    assert lircd.codes() == [ON, RED, GREEN]


def test_resends_the_colour_after_resend_seconds(lircd, driver, clock):
    driver.show("RED")
    clock.now += 100
    driver.show("GREEN")
    assert driver.next_due(clock.now) == 300

    clock.now += 299
    driver.tick()
    assert lircd.codes() == [ON, RED, GREEN]
    assert driver.next_due(clock.now) == 1

    clock.now += 1
    driver.tick()
    # ON again before the colour: a lamp that was power-cycled may have come back off.
    assert lircd.codes() == [ON, RED, GREEN, ON, GREEN]
    assert driver.next_due(clock.now) == 300


def test_off_is_never_preceded_by_on(lircd, driver, clock):
    driver.show("OFF")
    clock.now += 300
    driver.tick()

    assert lircd.codes() == [OFF, OFF]


def test_failures_back_off_from_1_s_doubling_to_60_s(lircd, driver, clock, caplog):
    lircd.stop()

    driver.show("RED")  # fails, and does not raise

    waits = []
    for _attempt in range(9):
        wait = driver.next_due(clock.now)
        waits.append(wait)
        clock.now += wait - 0.5
        driver.tick()  # not yet due: no attempt
        clock.now += 0.5
        driver.tick()  # due: another attempt, failing
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    failures = [
        r for r in caplog.records if r.levelno == logging.WARNING and "lamp backend lirc" in r.message
    ]
    assert len(failures) == 10
    assert str(lircd.socket) in failures[0].message


def test_a_backend_that_works_again_gets_the_current_colour_at_once(lircd, driver, clock, caplog):
    lircd.stop()
    driver.show("RED")
    status = driver.status()
    assert status["backends"][0]["ok"] is False
    assert "Cannot open socket" in status["backends"][0]["error"]
    assert status["sent_at"] is None
    assert any("lamp backend lirc" in r.message for r in caplog.records if r.levelno == logging.WARNING)

    lircd.start()
    clock.now += driver.next_due(clock.now)
    driver.tick()

    assert lircd.codes() == [ON, RED]
    status = driver.status()
    assert status["key"] == "RED"
    assert status["sent_at"] is not None
    assert status["backends"][0] == {
        "name": "lirc",
        "ok": True,
        "error": None,
        "detail": f"IR lamp: irsend SEND_ONCE LED_24_KEY via lircd on {lircd.socket}",
    }
    assert driver.next_due(clock.now) == 300


def test_one_failing_backend_does_not_hold_back_the_others(lircd, clock):
    virtual = VirtualBackend()
    broken = LircBackend(lircd.socket, remote="NO_SUCH_REMOTE")
    driver = LampDriver([broken, virtual, LircBackend(lircd.socket)], resend_seconds=300, clock=clock)

    driver.show("RED")

    assert virtual.key == "RED"
    assert lircd.codes() == [ON, RED]
    backends = driver.status()["backends"]
    assert [b["ok"] for b in backends] == [False, True, True]
    assert 'unknown remote: "NO_SUCH_REMOTE"' in backends[0]["error"]
    assert backends[1]["detail"] == "virtual lamp (no hardware), showing RED"
    # Only the failing backend is retried, after its back-off; the others wait for the re-send.
    assert driver.next_due(clock.now) == 1
    clock.now += 1
    driver.tick()
    assert lircd.codes() == [ON, RED]


def test_an_unknown_key_is_logged_not_raised(lircd, driver, caplog):
    driver.show("NOPE")

    assert lircd.codes() == [ON]
    assert "unknown key 'NOPE'" in driver.status()["backends"][0]["error"]
    assert any("unknown key 'NOPE'" in r.message for r in caplog.records)


def test_status_is_json(driver):
    driver.show("RED")

    assert json.loads(json.dumps(driver.status()))["key"] == "RED"
