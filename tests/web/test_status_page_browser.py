"""The status page in a real Chromium: what a person in the room sees."""

import pytest

from tests.conftest import http_json

pytestmark = pytest.mark.slow


def test_the_page_shows_programs_and_follows_their_states_live(supervisord, start_server, browser, tmp_path):
    (supervisord.include_dir / "demo.conf").write_text("[program:demo]\ncommand = sleep 600\nstartsecs = 0\n")
    supervisord.client.call("reloadConfig")
    supervisord.client.call("addProcessGroup", "demo")
    server = start_server(f'[stack]\nsupervisor_socket = "{supervisord.socket}"\n')
    page = browser.new_page()
    page.goto(server.url + "/")
    row = page.locator('tr[data-program="demo"]')
    assert row.locator(".state").inner_text() == "RUNNING"
    page.wait_for_selector('#live[data-state="open"]')

    supervisord.client.call("stopProcess", "demo")
    page.wait_for_function(
        """() => document.querySelector('tr[data-program="demo"] .state').textContent === 'STOPPED'"""
    )
    page.screenshot(path=str(tmp_path / "status.png"))


def test_the_page_tells_how_to_start_a_stack_that_is_not_running(appliance_server, browser):
    page = browser.new_page()
    page.goto(appliance_server.url + "/")
    assert page.locator("#stack-error").is_visible()
    assert "appliance stack up" in page.locator("#stack-error").inner_text()


def test_the_lamp_on_the_page_follows_the_monitor_live(appliance_server, browser):
    token = (appliance_server.data_dir / "secrets" / "api-token").read_text().strip()
    page = browser.new_page()
    page.goto(appliance_server.url + "/")
    assert page.locator("#lamp-meaning").inner_text() == "No lamp state yet"
    page.wait_for_selector('#live[data-state="open"]')
    driver = {"backends": [{"name": "lirc", "ok": False, "error": "irsend timed out", "detail": ""}]}
    report = {"lamp": {"state": "unreachable", "colour": "PURPLE", "driver": driver}, "sources": []}
    status, _ = http_json(
        appliance_server.url + "/api/monitor", "PUT", report, {"Authorization": f"Bearer {token}"}
    )
    assert status == 204
    page.wait_for_selector('#lamp[data-colour="PURPLE"]')
    assert page.locator("#lamp-meaning").inner_text() == "Cannot reach a status source"
    assert page.locator("#lamp-backends .failed").inner_text() == "lirc: cannot send: irsend timed out"
