"""The supervisord client under the load the status page and the showroom put on it: many
threads calling a real supervisord at once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from appliance.supervisor import Supervisor, SupervisorUnavailable

pytestmark = pytest.mark.slow


def test_one_client_shared_by_eight_threads_answers_every_call(supervisord):
    client = Supervisor(supervisord.socket)

    def calls(_thread: int) -> list[str]:
        outcomes = []
        for _ in range(200):
            try:
                client.processes()
                outcomes.append("ok")
            except SupervisorUnavailable as exc:
                outcomes.append(str(exc))
        return outcomes

    with ThreadPoolExecutor(8) as pool:
        outcomes = [outcome for result in pool.map(calls, range(8)) for outcome in result]
    assert [o for o in outcomes if o != "ok"] == []
    assert len(outcomes) == 1600


def test_a_stopped_supervisord_is_unavailable_not_an_error(supervisord):
    client = Supervisor(supervisord.socket)
    supervisord.stop()
    with pytest.raises(SupervisorUnavailable, match="does not answer"):
        client.processes()
