#!/usr/bin/env python3
"""The wall at ``/`` of a busy appliance, loaded in Debian's Chromium: 20 CI repositories with
three builds each (a quarter of them broken), 10 test machines with a run each, 20 running demos and a
monitor report of 10 sources. Prints what the page costs over the wire (every response, headers
and bodies, as Chromium's resource timing counts them) and its first contentful paint, each over
``--loads`` fresh loads; ``--screenshots DIR`` saves the wall at 1920x1080 (``?kiosk=1``) and on a
phone (375x812).

    .venv/bin/python bench/page.py [--loads 5] [--screenshots docs/images]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from support import describe

from appliance.showroom.demos import Showroom
from tests.harness import ROOT, ApplianceServer, ShowroomDaemon, SupervisorDaemon, http_json
from tests.progress.conftest import dry_run, start, stop

RECIPES = ROOT / "tests" / "showroom" / "fixtures" / "recipes"
REPOS, MACHINES, DEMOS, SOURCES = 20, 10, 20, 10
TESTS = ["01_01_test_lamp.py", "01_02_test_lamp.py", "01_01_test_lamp.py"]  # of the dry run's first scenario

# What the page received, headers included: the document and what it loads (``first``), and the
# wall's own reads of itself after events (``reads``; the stack's first state comes as an event
# once a page listens). The stream (/events) is left out: it stays open, its bytes come as events do.
TRANSFERRED = """() => {
  const entries = [performance.getEntriesByType("navigation")[0],
    ...performance.getEntriesByType("resource").filter((r) => !r.name.includes("/events"))];
  const sum = (list) => list.reduce((total, entry) => total + entry.transferSize, 0);
  const reads = entries.filter((e) => e.initiatorType === "fetch");
  return {first: sum(entries) - sum(reads), reads: sum(reads), count: reads.length};
}"""
FIRST_PAINT = """() => new Promise((resolve) => new PerformanceObserver((list, observer) => {
  const [paint] = list.getEntriesByName("first-contentful-paint");
  if (paint) { observer.disconnect(); resolve(paint.startTime); }
}).observe({type: "paint", buffered: true}))"""


def showroom_section(daemon: ShowroomDaemon) -> str:
    """The daemon's ``[showroom]`` section, so the server drives the same showroom."""
    text = daemon.config_file.read_text(encoding="utf-8")
    return text[text.index("[showroom]") :]


def fill(server: ApplianceServer) -> None:
    auth = {"Authorization": f"Bearer {server.token}"}

    def call(path: str, body: dict, expected: int) -> dict:
        status, answer = http_json(server.url + path, "POST", body, auth)
        assert status == expected, (path, status, answer)
        return answer

    call("/api/ci/runners/bench/register", {"capacity": 1}, 200)
    for repo in range(REPOS):
        # A quarter of them broken by their second commit, the rest fixed by it.
        outcomes = ("passed", "failed", "failed") if repo % 4 == 0 else ("failed", "passed", "passed")
        for n, outcome in enumerate(outcomes):
            commit = {"sha": f"{repo:02d}{n}".ljust(40, "a"), "author": f"Author {n}", "message": "change"}
            call("/api/ci/commits", {"repo": f"repo-{repo:02d}", "commits": [commit]}, 200)
            work = call("/api/ci/runners/bench/next?wait=0", {}, 200)
            call(
                f"/api/ci/builds/{work['build']}/attempts/1/result",
                {"runner": "bench", "status": outcome},
                200,
            )
    for machine in range(MACHINES):
        name = f"bench #{machine}"
        call("/tm_api/dry_run/", dry_run(name), 201)
        for test in TESTS[: machine % (len(TESTS) + 1)]:  # from none to all of them done
            call("/tm_api/test_start/", start(test, machine=name), 202)
            call("/tm_api/test_stop/", stop(test, "failed" if machine == 3 else "passed", machine=name), 202)
    sources = [
        {"name": f"source {n}", "kind": "cctray", "state": "success" if n % 4 else "failure"}
        for n in range(SOURCES)
    ]
    report = {"lamp": {"state": "failure", "colour": "RED", "driver": {}}, "sources": sources}
    assert http_json(server.url + "/api/monitor", "PUT", report, auth)[0] == 204


def measure(server: ApplianceServer, loads: int, screenshots: Path | None) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        sizes, paints = [], []
        for _ in range(loads):
            context = browser.new_context(viewport={"width": 1280, "height": 800})  # a cold cache each
            page = context.new_page()
            page.goto(server.url + "/")
            page.wait_for_selector('#live[data-state="open"]')
            paints.append(page.evaluate(FIRST_PAINT) / 1000)
            sizes.append(page.evaluate(TRANSFERRED))
            context.close()
        print(f"/ with {REPOS} repositories, {MACHINES} machines, {DEMOS} demos, {SOURCES} sources:")
        first = [size["first"] / 1024 for size in sizes]
        reads = [size["reads"] / 1024 for size in sizes]
        print(f"  transferred by the load: {min(first):.1f} to {max(first):.1f} KiB over {loads} loads")
        print(
            f"  and by the wall's reads after events during it: {min(reads):.1f} to {max(reads):.1f} KiB"
            f" ({', '.join(str(size['count']) for size in sizes)} reads)"
        )
        print(f"  first contentful paint: {describe(paints)}")
        if screenshots:
            screenshots.mkdir(parents=True, exist_ok=True)
            for name, path, viewport, scale in [
                ("wall.png", "/?kiosk=1", {"width": 1920, "height": 1080}, 0.5),
                ("phone.png", "/", {"width": 375, "height": 812}, 1),
            ]:
                # The TV at half its pixels: a small file for docs/, still legible.
                page = browser.new_page(viewport=viewport, device_scale_factor=scale)
                page.goto(server.url + path)
                page.wait_for_selector('#live[data-state="open"]')
                page.screenshot(path=str(screenshots / name))
                if path == "/?kiosk=1":
                    fits = page.evaluate("document.documentElement.scrollHeight <= innerHeight")
                    size = page.evaluate("getComputedStyle(document.querySelector('main')).fontSize")
                    verdict = "fits" if fits else "does NOT fit"
                    print(f"  kiosk at 1920x1080: {verdict} without scrolling, type {size}")
                page.close()
            print(f"  screenshots: {screenshots / 'wall.png'}, {screenshots / 'phone.png'}")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--screenshots", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-page-") as directory:
        daemon = ShowroomDaemon(Path(directory) / "showroom", RECIPES)
        daemon.start()
        # The stack's own supervisord, as on a Pi (its programs are not what is measured).
        stack = SupervisorDaemon(Path(directory) / "stack")
        stack.start()
        server = None
        try:
            showroom = Showroom(daemon.config)
            for n in range(DEMOS):
                showroom.deploy("test1", f"demo-{n:02d}")
                showroom.demo(f"demo-{n:02d}").start()
            repos = "".join(
                f'\n[[ci.repos]]\nname = "repo-{n:02d}"\nurl = "/srv/repo-{n:02d}.git"\n'
                for n in range(REPOS)
            )
            stack_section = f'\n[stack]\nsupervisor_socket = "{stack.socket}"\n'
            server = ApplianceServer(
                Path(directory) / "server",
                extra_config=repos + "\n" + showroom_section(daemon) + stack_section,
            )
            server.start()
            fill(server)
            measure(server, args.loads, args.screenshots)
        finally:
            if server:
                server.stop()
            daemon.stop()
            stack.stop()


if __name__ == "__main__":
    main()
