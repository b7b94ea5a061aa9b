"""A machine's page in a real Chromium: a test's row changes in place as the machine reports its
start and stop over HTTP, with no reload, the machine's next dry run takes the page's place, and a
run whose machine falls silent turns interrupted."""

import pytest

from tests.conftest import http_json
from tests.progress.conftest import dry_run, start, stop

pytestmark = pytest.mark.slow

LAMP = "01_01_test_lamp.py"


def test_a_machines_page_follows_its_run_live(appliance_server, browser, tmp_path):
    def report(path: str, body: dict) -> dict:
        headers = {"Authorization": f"Bearer {appliance_server.token}"}
        status, answer = http_json(f"{appliance_server.url}/tm_api/{path}/", "POST", body, headers)
        assert status in (201, 202), answer
        return answer

    first = report("dry_run", dry_run())
    test_id = first["tests"][0]["test"]
    page = browser.new_page()
    page.goto(f"{appliance_server.url}/progress/machines/{first['machine']}")
    page.wait_for_selector('#live[data-state="open"]')
    page.evaluate("() => { window.notReloaded = true; }")  # gone if the page loads again
    row = f'tr[data-test="{test_id}"]'
    assert page.locator(f"{row} .pg-status").inner_text().lower() == "waiting"

    report("test_start", start(LAMP))
    page.wait_for_function(f"() => document.querySelector('{row} .pg-status').textContent === 'running'")
    assert page.locator('[data-fact="status"]').inner_text().lower() == "running"
    assert page.locator(f"{row} td").nth(3).inner_text() != ""  # its start time

    report("test_stop", stop(LAMP, "failed"))
    page.wait_for_function(f"() => document.querySelector('{row} .pg-status').textContent === 'failed'")
    page.wait_for_function(
        "() => document.querySelector('[data-fact=\"progress\"]').textContent === '1 of 4 done'"
    )
    scenario = "tbody[data-scenario] tr.pg-scenario .pg-status"
    assert page.locator(scenario).first.inner_text().lower() == "waiting"  # rolled up again here
    assert page.evaluate("() => window.notReloaded") is True
    page.screenshot(path=tmp_path / "progress-machine-running.png", full_page=True)

    second = report("dry_run", dry_run())
    page.wait_for_function(
        f"() => document.getElementById('progress-machine').dataset.run === '{second['run']}'"
    )
    statuses = page.locator("tr[data-test] .pg-status").all_inner_texts()
    assert [status.lower() for status in statuses] == ["waiting"] * 4
    history = page.locator("#progress-history tr[data-run]")
    assert history.count() == 2
    assert page.evaluate("() => window.notReloaded") is True  # swapped in, not reloaded
    page.screenshot(path=tmp_path / "progress-machine-new-run.png", full_page=True)


def test_a_run_whose_machine_falls_silent_turns_interrupted_on_the_open_page(start_server, browser, tmp_path):
    server = start_server("[progress]\ninterrupted_after = 1.5\n")
    headers = {"Authorization": f"Bearer {server.token}"}
    status, run = http_json(f"{server.url}/tm_api/dry_run/", "POST", dry_run(), headers)
    assert status == 201, run
    assert http_json(f"{server.url}/tm_api/test_start/", "POST", start(LAMP), headers)[0] == 202
    page = browser.new_page()
    page.goto(f"{server.url}/progress/machines/{run['machine']}")
    page.wait_for_selector('#live[data-state="open"]')
    page.evaluate("() => { window.notReloaded = true; }")
    assert page.locator('[data-fact="status"]').inner_text().lower() == "running"
    page.wait_for_function(
        "() => document.querySelector('[data-fact=\"status\"]').textContent === 'interrupted'", timeout=10_000
    )
    assert (
        page.locator(f'#progress-history tr[data-run="{run["run"]}"] .pg-status').inner_text().lower()
        == "interrupted"
    )
    assert page.evaluate("() => window.notReloaded") is True
    page.screenshot(path=tmp_path / "progress-machine-interrupted.png", full_page=True)
