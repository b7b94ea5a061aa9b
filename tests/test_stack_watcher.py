"""The stack watcher asks a real supervisord for the programs' states only while someone
listens to the ``stack`` topic: programs that follow other topics cost supervisord nothing."""

from __future__ import annotations

import pytest

from appliance.events import EventBus
from appliance.stack import StackWatcher
from appliance.supervisor import Supervisor

pytestmark = pytest.mark.slow


class CountingSupervisor(Supervisor):
    def __init__(self, socket_path):
        super().__init__(socket_path)
        self.calls = 0

    def call(self, method, *args):
        self.calls += 1
        return super().call(method, *args)


def test_no_call_while_only_other_topics_are_followed(supervisord):
    client, bus = CountingSupervisor(supervisord.socket), EventBus()
    watcher = StackWatcher(client, bus)
    with bus.subscribe(["ci.build"]), bus.subscribe(["ci.hook"]):
        for _ in range(5):
            watcher.tick()
    assert client.calls == 0


def test_a_page_listening_to_the_stack_gets_its_state_once_per_change(supervisord):
    client, bus = CountingSupervisor(supervisord.socket), EventBus()
    watcher = StackWatcher(client, bus)
    with bus.subscribe(["stack"]) as page:
        watcher.tick()
        watcher.tick()
        assert client.calls == 2
        assert page.get(1).data["reachable"] is True
        assert page.get(0.01) is None  # nothing changed between the two polls
