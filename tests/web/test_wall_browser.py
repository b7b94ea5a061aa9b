"""The wall and the other pages in a real Chromium, against a real ``appliance server``: what
reaches the screen live, what it says while the stream is down, the kiosk, an empty appliance,
phones, and axe-core's accessibility rules. Screenshots go to build/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from appliance.web import wall
from tests.conftest import http_json
from tests.harness import ApplianceServer, open_stream, read_until
from tests.progress.conftest import dry_run

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
PAGES = ["/", "/ci", "/progress", "/showroom"]
PHONE = {"width": 375, "height": 812}
LAPTOP = {"width": 1280, "height": 800}
TV = {"width": 1920, "height": 1080}


class Watched:
    """A page with what went wrong on it: console errors, uncaught exceptions, and any request
    for another host than the appliance's."""

    def __init__(self, browser, server: ApplianceServer, viewport: dict):
        self.page = browser.new_page(viewport=viewport, locale="en-US", timezone_id="UTC")
        self.errors: list[str] = []
        self.foreign: list[str] = []
        self.here = urlsplit(server.url).netloc
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", self._request)

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _request(self, request) -> None:
        if urlsplit(request.url).netloc != self.here:
            self.foreign.append(request.url)

    def assert_clean(self) -> None:
        assert self.errors == [] and self.foreign == []


def put_report(server: ApplianceServer, sources: list[dict], state: str = "test_failed") -> None:
    report = {"lamp": {"state": state, "colour": "RED", "driver": {}}, "sources": sources}
    status, _ = http_json(server.url + "/api/monitor", "PUT", report, auth(server))
    assert status == 204


def auth(server: ApplianceServer) -> dict:
    return {"Authorization": f"Bearer {server.token}"}


def source(name: str, state: str = "test_failed") -> dict:
    return {"name": name, "kind": "octopus", "state": state, "since": "2026-11-22T10:00:00+00:00"}


def report_dry_run(server: ApplianceServer, machine: str) -> None:
    status, _ = http_json(server.url + "/tm_api/dry_run/", "POST", dry_run(machine), auth(server))
    assert status == 201


def wait_live(watched: Watched) -> None:
    watched.page.wait_for_selector('#live[data-state="open"]')


def test_the_wall_shows_events_live_and_asks_no_other_host(start_server, browser):
    server = start_server()
    watched = Watched(browser, server, LAPTOP)
    watched.page.goto(server.url + "/")
    wait_live(watched)

    put_report(server, [source("integration")])
    tile = watched.page.locator('[data-source="integration"]')
    tile.wait_for()
    assert "Tests failed" in tile.inner_text() and "broken for" in tile.inner_text()
    # The time in the browser's zone and language (here UTC, en-US), not the server's ISO 8601.
    assert tile.locator("time").inner_text() == "Nov 22, 2026, 10:00 AM"
    assert watched.page.locator("#lamp-meaning").inner_text() == "Tests failed"

    report_dry_run(server, "bench #1")
    machine = watched.page.locator('[data-machine="bench #1"]')
    machine.wait_for()
    assert "0 of 4 done" in machine.inner_text()
    assert machine.locator('[role="progressbar"]').get_attribute("aria-valuemax") == "4"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    watched.page.screenshot(path=str(SCREENSHOTS / "wall-1280x800.png"), full_page=True)
    watched.page.set_viewport_size(PHONE)
    watched.page.screenshot(path=str(SCREENSHOTS / "wall-375x812.png"), full_page=True)
    watched.assert_clean()


def test_broken_for_grows_on_the_page_as_the_server_says_it(start_server, browser):
    server = start_server()
    now = datetime.now(UTC)
    put_report(server, [{**source("integration"), "since": (now - timedelta(hours=2)).isoformat()}])
    watched = Watched(browser, server, LAPTOP)
    watched.page.clock.install(time=now)
    watched.page.goto(server.url + "/")
    broken = watched.page.locator('[data-source="integration"] .tile-broken')
    assert broken.inner_text() == "broken for 2 h 0 min"  # the server's words (wall.py)
    watched.page.clock.run_for("05:30")
    assert broken.inner_text() == "broken for 2 h 5 min"  # the page's, after five minutes (status.js)
    watched.page.clock.run_for(24 * 3600 * 1000)
    assert broken.inner_text() == "broken for 1 d 2 h"
    watched.assert_clean()


def test_a_stale_wall_says_so_and_reads_itself_again_once_back(start_server, browser):
    server = start_server()
    watched = Watched(browser, server, LAPTOP)
    page = watched.page
    page.goto(server.url + "/")
    wait_live(watched)
    assert page.locator("#stale").is_hidden()
    # Events the page receives, so that the id it reconnects with is past every event the
    # restarted server will have: nothing is replayed to it.
    for n in range(5):
        put_report(server, [source(f"before {n}")])
    page.locator('[data-source="before 4"]').wait_for()

    # The stream stays refused after the restart until the report below is in, so that the page
    # can only learn of it by reading itself again when it reconnects, not from its event.
    page.route("**/events*", lambda route: route.abort())
    server.stop()
    page.wait_for_selector("#stale", state="visible")
    banner = page.locator("#stale").inner_text()
    assert banner.startswith("Live updates stopped at ") and banner.endswith(
        "the page may be out of date; reconnecting…"
    )
    assert "is-stale" in page.locator("body").get_attribute("class")

    server.start()
    # Another listener takes the stack's first state (an event for the first listener only),
    # which would otherwise make the page read itself again all the same.
    stack_listener = open_stream(server.port, "/events?topic=stack")
    try:
        read_until(stack_listener, b"event: stack")
        put_report(server, [source("after restart", "success")], state="success")
        page.unroute("**/events*")
        page.wait_for_selector("#stale", state="hidden", timeout=60_000)
        page.locator('[data-source="after restart"]').wait_for()
    finally:
        stack_listener.close()
    assert page.locator("#lamp-meaning").inner_text() == "All good"
    # A read of the wall that started just before the server stopped fails as it should.
    refused = "Failed to load resource: net::ERR_CONNECTION_REFUSED"
    assert [error for error in watched.errors if error != refused] == [] and watched.foreign == []


def test_a_page_refused_its_stream_tries_again_by_itself(start_server, browser):
    # A 503 (too many streams, or a proxy's error page) ends an EventSource for good; live.js
    # starts a new one after a back-off.
    server = start_server()
    watched = Watched(browser, server, LAPTOP)
    page = watched.page
    page.route("**/events*", lambda route: route.fulfill(status=503, body="busy"))
    page.goto(server.url + "/")
    page.wait_for_selector("#stale", state="visible")
    assert page.evaluate("document.getElementById('live').dataset.state") == "closed"
    page.unroute("**/events*")
    wait_live(watched)
    assert page.locator("#stale").is_hidden()
    assert watched.foreign == []


def test_kiosk_fits_a_tv_without_navigation(start_server, browser):
    repos = "".join(f'\n[[ci.repos]]\nname = "repo-{i}"\nurl = "/srv/repo-{i}.git"\n' for i in range(6))
    server = start_server(repos)
    put_report(server, [source(f"source {i}", "success" if i % 3 else "test_failed") for i in range(12)])
    for i in range(6):
        report_dry_run(server, f"bench #{i}")
    watched = Watched(browser, server, TV)
    watched.page.goto(server.url + "/?kiosk=1")
    wait_live(watched)
    assert watched.page.locator("header nav").is_hidden() and watched.page.locator("footer").is_hidden()
    assert watched.page.locator("[data-repo]").count() == 6
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    watched.page.screenshot(path=str(SCREENSHOTS / "wall-kiosk-1920x1080.png"))
    assert watched.page.evaluate("document.documentElement.scrollHeight <= innerHeight")
    assert watched.page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    # The live badge stays, so a TV still says when it is stale.
    assert watched.page.locator("#live").is_visible()
    watched.assert_clean()


def test_an_empty_appliance_shows_the_lines_to_paste(start_server, browser):
    server = start_server()
    watched = Watched(browser, server, LAPTOP)
    watched.page.goto(server.url + "/")
    pasted = watched.page.locator("#getting-started pre")
    assert [text.strip() for text in pasted.all_inner_texts()] == [
        text.strip() for text in (wall.FIRST_SOURCE, wall.FIRST_REPO, wall.SIMULATE_COMMAND)
    ]
    watched.page.set_viewport_size(PHONE)
    assert watched.page.evaluate("document.documentElement.scrollWidth <= innerWidth")
    watched.assert_clean()


@pytest.mark.parametrize("path", PAGES)
def test_every_page_says_it_is_stale_while_the_server_is_away_and_reads_itself_again(
    start_server, browser, path
):
    server = start_server('\n[[ci.repos]]\nname = "app"\nurl = "/srv/app.git"\n')
    watched = Watched(browser, server, LAPTOP)
    page = watched.page
    page.goto(server.url + path)
    wait_live(watched)
    assert page.locator("#stale").is_hidden()
    server.stop()
    page.wait_for_selector("#stale", state="visible")
    assert page.locator("#live").inner_text() == "reconnecting…"
    server.start()
    # Something the page did not see while the server was away, shown once it is back.
    report_dry_run(server, "bench after restart")
    page.wait_for_selector("#stale", state="hidden", timeout=60_000)
    wait_live(watched)
    if path in ("/", "/progress"):
        page.get_by_text("bench after restart").first.wait_for()
    refused = "Failed to load resource: net::ERR_CONNECTION_REFUSED"
    assert [error for error in watched.errors if error != refused] == [] and watched.foreign == []


@pytest.mark.parametrize("path", [*PAGES, "/login"])
def test_every_page_at_desktop_and_phone_widths_is_kept_as_a_screenshot(start_server, browser, path):
    server = start_server('\n[[ci.repos]]\nname = "app"\nurl = "/srv/app.git"\n')
    report_dry_run(server, "bench #1")
    put_report(server, [source("integration"), source("nightly", "success")])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = path.strip("/") or "wall"
    for label, viewport in (("desktop", LAPTOP), ("phone", PHONE)):
        watched = Watched(browser, server, viewport)
        watched.page.goto(server.url + path)
        if path != "/login":
            wait_live(watched)
        else:  # nothing live on it: no stream, and no badge saying it is connecting
            assert watched.page.locator("#live").is_hidden()
        shot = SCREENSHOTS / f"{name}-{label}.png"
        watched.page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 0
        assert watched.page.evaluate("document.documentElement.scrollWidth <= innerWidth"), (path, label)
        watched.assert_clean()
        watched.page.close()


@pytest.mark.parametrize("path", PAGES)
def test_every_page_fits_a_phone(start_server, browser, path):
    server = start_server('\n[[ci.repos]]\nname = "a-repository-with-a-long-name"\nurl = "/srv/app.git"\n')
    commits = {
        "repo": "a-repository-with-a-long-name",
        "commits": [{"sha": "a" * 40, "author": "Ada", "message": "A long commit message " * 8}],
    }
    assert http_json(server.url + "/api/ci/commits", "POST", commits, auth(server))[0] == 200
    report_dry_run(server, "bench #1")
    put_report(server, [source("integration")])
    watched = Watched(browser, server, PHONE)
    watched.page.goto(server.url + path)
    wait_live(watched)
    assert watched.page.evaluate("document.documentElement.scrollWidth <= innerWidth"), path
    watched.assert_clean()


@pytest.mark.parametrize("path", PAGES)
def test_axe_finds_nothing_serious(start_server, browser, path):
    server = start_server()
    put_report(server, [source("integration"), source("nightly", "success")])
    report_dry_run(server, "bench #1")
    watched = Watched(browser, server, LAPTOP)
    watched.page.goto(server.url + path)
    wait_live(watched)
    watched.page.add_script_tag(path=str(AXE))
    results = watched.page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []
    watched.assert_clean()
