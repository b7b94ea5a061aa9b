"""The CI pages in a real Chromium: a build's page follows it from the queue to its result with
its log streaming in, and the list of builds follows too."""

import sys

import pytest

from tests.conftest import wait_until

pytestmark = pytest.mark.slow

TICKING = (
    f'{sys.executable} -c "import time, sys\n'
    "for i in range(6): print('tick', i, flush=True); time.sleep(0.3)\n"
    "sys.stdout.buffer.write(b'caf\\xc3\\xa9 \\xff end\\n')\""
)


def test_a_build_page_streams_the_log_live_and_the_list_follows(start_ci, git_repo, browser):
    repo = {"name": "demo", "url": str(git_repo.path), "command": TICKING}
    ci = start_ci([repo])
    ci.queue(repo, [git_repo.commits[0]])
    [build] = ci.builds()

    listing = browser.new_page()
    listing.goto(ci.server.url + "/ci")
    row = listing.locator(f'tr[data-build="{build["id"]}"] .ci-status')
    assert row.inner_text().lower() == "queued"
    listing.wait_for_selector('#live[data-state="open"]')

    page = browser.new_page()
    page.goto(f"{ci.server.url}/ci/builds/{build['id']}")
    assert page.locator("#build-status").inner_text().lower() == "queued"
    page.wait_for_selector('#live[data-state="open"]')
    ci.runner("r1")

    page.wait_for_function("() => document.getElementById('log').textContent.includes('tick 2')")
    assert page.locator("#build-status").inner_text().lower() == "running"
    assert "tick 5" not in page.locator("#log").inner_text()  # it arrives while the build runs
    page.wait_for_function("() => document.getElementById('build-status').textContent === 'passed'")
    wait_until(lambda: "caf\u00e9 \ufffd end" in page.locator("#log").inner_text(), what="the end of the log")
    log = page.locator("#log").inner_text()
    assert [line for line in log.splitlines() if line.startswith("tick")] == [f"tick {i}" for i in range(6)]
    assert page.locator("#build-exit").inner_text() == "0"

    status = f"""document.querySelector('tr[data-build="{build["id"]}"] .ci-status').textContent"""
    listing.wait_for_function(f"() => {status} === 'passed'")
    assert listing.locator(f'tr[data-build="{build["id"]}"] td').nth(6).inner_text() == "r1"
