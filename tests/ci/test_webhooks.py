"""Push webhooks: a signed delivery is taken once, and a burst of them costs the observer a few
fetches, never a missed push."""

import pytest

from appliance.ci.observer import HOOK_MAX_WAIT, HOOK_SETTLE, Observer
from appliance.ci.settings import CIRepoConfig
from appliance.ci.webhooks import AlreadyReceived, BadSignature, UnknownRepository, Webhooks
from appliance.client import Client
from appliance.config import Secret
from tests.ci.test_api import sign
from tests.web.test_errors import assert_error_shape

PUSH = b'{"ref": "refs/heads/main", "after": "1111"}'


def test_a_replayed_delivery_is_refused_and_wakes_nobody(ci_app, ci_client):
    signed = {"X-Hub-Signature-256": sign(PUSH, "s3cret")}
    with ci_app.extensions["appliance"].bus.subscribe(["ci.hook"]) as events:
        assert ci_client.post("/api/ci/hooks/app", data=PUSH, headers=signed).status_code == 202
        replay = ci_client.post("/api/ci/hooks/app", data=PUSH, headers=signed)
        assert_error_shape(replay, 409)
        assert replay.get_json()["error"].startswith("already received")
        assert events.get(timeout=1).data == {"repo": "app"}
        assert events.get(timeout=0) is None
        following = PUSH.replace(b"1111", b"2222")
        headers = {"X-Hub-Signature-256": sign(following, "s3cret")}
        assert ci_client.post("/api/ci/hooks/app", data=following, headers=headers).status_code == 202


def test_a_repository_without_a_secret_takes_the_same_notice_again(ci_client):
    assert ci_client.post("/api/ci/hooks/open", data=b"{}").status_code == 202
    assert ci_client.post("/api/ci/hooks/open", data=b"{}").status_code == 202


@pytest.fixture
def webhooks(monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", "s3cret")
    secret = Secret("env:HOOK_SECRET")
    repos = [CIRepoConfig(name=name, url=f"/srv/{name}.git", secret=secret) for name in ("app", "lib")]
    return Webhooks(repos, remembered=3)


def test_the_memory_of_deliveries_is_bounded_and_per_repository(webhooks):
    bodies = [b'{"after": "%d"}' % n for n in range(4)]
    for body in bodies:
        webhooks.take("app", body, sign(body, "s3cret"))
    webhooks.take("lib", bodies[3], sign(bodies[3], "s3cret"))  # the same body for another repository
    with pytest.raises(AlreadyReceived):
        webhooks.take("app", bodies[3], sign(bodies[3], "s3cret"))
    # Only the last three are remembered: the first is forgotten, so taken again.
    webhooks.take("app", bodies[0], sign(bodies[0], "s3cret"))


def test_a_refused_delivery_is_not_remembered(webhooks):
    with pytest.raises(BadSignature):
        webhooks.take("app", PUSH, sign(PUSH, "wrong"))
    with pytest.raises(BadSignature):
        webhooks.take("app", PUSH, None)
    with pytest.raises(UnknownRepository):
        webhooks.take("nope", PUSH, sign(PUSH, "s3cret"))
    webhooks.take("app", PUSH, sign(PUSH, "s3cret"))


# --- the observer's side ----------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counting_observer(tmp_path, clock, during_fetch=lambda: None):
    """An observer whose repository's fetches are counted (their times), not made."""
    spec = CIRepoConfig(name="demo", url="/srv/demo.git", poll_seconds=3600)
    observer = Observer([spec], tmp_path / "observer", Client("http://127.0.0.1:9", "token"), 20, clock=clock)
    fetches = []

    def poll(cap):
        fetches.append(clock.now)
        during_fetch()
        return 0

    observer.watches["demo"].poll = poll
    return observer, fetches


def test_a_burst_of_300_hooks_is_a_fetch_a_second_the_last_after_the_last_hook(tmp_path):
    clock = Clock()
    observer, fetches = counting_observer(tmp_path, clock)
    observer.poll_due()  # the first look, at start
    clock.now += 60
    hooks = [clock.now + n * 5 / 300 for n in range(300)]  # 300 hooks in 5 s
    for at in hooks:
        clock.now = at
        observer.wake({"demo"})
        observer.poll_due()  # at worst, each hook wakes the observer's loop
    during_burst = [t for t in fetches if t >= hooks[0]]
    assert during_burst[0] <= hooks[0] + HOOK_MAX_WAIT
    assert len(during_burst) <= 5 / HOOK_MAX_WAIT + 1
    # The observer's loop sleeps until the earliest due time: the last hooks' fetch comes in time.
    clock.now = hooks[-1] + HOOK_SETTLE
    observer.poll_due()
    assert fetches[-1] == hooks[-1] + HOOK_SETTLE


def test_a_single_hook_is_fetched_after_the_settle_time(tmp_path):
    clock = Clock()
    observer, fetches = counting_observer(tmp_path, clock)
    observer.poll_due()
    for _ in range(5):
        clock.now += 0.3  # pushes one after the other, as fast as a person or a script in turn
        observer.wake({"demo"})
        observer.poll_due()
        assert fetches[-1] < clock.now  # not at once: more hooks of the same push may follow
        clock.now += HOOK_SETTLE
        observer.poll_due()
        assert fetches[-1] == clock.now
    assert len(fetches) == 6


def test_a_hook_during_a_fetch_leads_to_one_more_fetch(tmp_path):
    clock = Clock()
    hooks = []

    def push_during_the_fetch():
        if not hooks:  # one push, whose hook arrives while the observer is fetching
            hooks.append(clock.now)
            observer.wake({"demo"})

    observer, fetches = counting_observer(tmp_path, clock, during_fetch=push_during_the_fetch)
    observer.poll_due()
    clock.now += HOOK_SETTLE
    observer.poll_due()  # the push may have landed after the fetch began: it is looked at again
    clock.now += HOOK_SETTLE
    observer.poll_due()
    assert len(fetches) == 2
    clock.now += 10
    observer.poll_due()
    assert len(fetches) == 2
