"""The Pi's own state as notices: real files in place of /run's, a real supervisord, the real
filesystem's figures; and the status page showing them."""

from __future__ import annotations

import os

import pytest

from appliance import pistate
from appliance.config import Config, ServerConfig
from appliance.stack import stack_state
from appliance.supervisor import Supervisor
from appliance.web import create_app
from tests.conftest import wait_until

# What the Ansible lirc role writes (ansible/roles/lirc/vars/main.yml, __lirc_reboot_notice).
ROLE_NOTICE = (
    "*** System restart required ***\n"
    "The appliance's IR transmitter: dtoverlay=gpio-ir-tx,gpio_pin=17 in /boot/firmware/config.txt\n"
    "takes effect at the next boot.\n"
)
NOTHING_RUNS = {"reachable": True, "socket": "/x", "error": None, "programs": []}


def files(tmp_path) -> pistate.SystemFiles:
    return pistate.SystemFiles(
        reboot_required=tmp_path / "reboot-required",
        reboot_packages=tmp_path / "reboot-required.pkgs",
        timesync_dir=tmp_path / "timesync",
    )


def test_a_recorded_reboot_says_why_and_which_packages_asked(tmp_path):
    paths = files(tmp_path)
    assert pistate.reboot_notices(paths.reboot_required, paths.reboot_packages) == []
    paths.reboot_required.write_text(ROLE_NOTICE)
    paths.reboot_packages.write_text("lirc\nlinux-image-rpi-v8\nlirc\n")
    [notice] = pistate.reboot_notices(paths.reboot_required, paths.reboot_packages)
    assert notice["title"] == "The Pi needs a reboot"
    assert "dtoverlay=gpio-ir-tx,gpio_pin=17 in /boot/firmware/config.txt takes effect" in notice["message"]
    assert "System restart required" not in notice["message"]
    assert notice["message"].endswith("Asked for by: lirc, linux-image-rpi-v8.")
    assert "sudo systemctl reboot" in notice["action"]


def test_a_reboot_without_reasons_and_with_huge_files_stays_bounded(tmp_path):
    paths = files(tmp_path)
    paths.reboot_required.write_text("")
    [bare] = pistate.reboot_notices(paths.reboot_required, paths.reboot_packages)
    assert bare["message"] == "Something installed or changed takes effect only after a reboot."
    paths.reboot_required.write_text("why " * 100_000)
    paths.reboot_packages.write_text("".join(f"package-{n}\n" for n in range(100_000)))
    [huge] = pistate.reboot_notices(paths.reboot_required, paths.reboot_packages)
    assert len(huge["message"]) < 3 * pistate.MAX_TEXT  # the lead, the reason, the packages
    assert huge["message"].endswith("package-18, package-19 and more.")  # the file goes on
    paths.reboot_packages.write_text("".join(f"package-{n}\n" for n in range(25)))
    [counted] = pistate.reboot_notices(paths.reboot_required, paths.reboot_packages)
    assert counted["message"].endswith("package-19 and 5 more.")
    paths.reboot_required.unlink()
    paths.reboot_required.mkdir()  # not a file: the reboot is still said, without a reason
    [odd] = pistate.reboot_notices(paths.reboot_required, paths.reboot_packages)
    assert odd["title"] == "The Pi needs a reboot"


def test_each_lamp_backend_that_cannot_send_is_a_notice_and_odd_drivers_are_none():
    driver = {
        "backends": [
            {"name": "lirc", "ok": False, "error": "lircd does not answer on /run/lirc/lircd"},
            {"name": "virtual", "ok": True, "error": None},
            {"name": "gpio", "ok": False},
            "odd",
            {"ok": "no"},
        ]
    }
    notices = pistate.lamp_notices({"driver": driver})
    assert [n["title"] for n in notices] == [
        "The lamp cannot send through lirc",
        "The lamp cannot send through gpio",
    ]
    assert notices[0]["message"] == "lircd does not answer on /run/lirc/lircd"
    assert "systemctl status lircd" in notices[0]["action"] and "[lamp.gpio]" in notices[1]["action"]
    for odd in (None, {"driver": None}, {"driver": {"backends": "all"}}, {"driver": []}):
        assert pistate.lamp_notices(odd) == []


def test_a_supervisord_that_does_not_answer_is_one_notice_with_how_to_start_it(tmp_path):
    stack = stack_state(Supervisor(tmp_path / "no.sock"))
    [notice] = pistate.stack_notices(stack)
    assert notice["title"] == "supervisord is not reachable"
    assert str(tmp_path / "no.sock") in notice["message"]
    assert "sudo systemctl start supervisor" in notice["action"] and "appliance stack up" in notice["action"]


@pytest.mark.slow
def test_each_program_that_does_not_run_is_a_notice(supervisord):
    (supervisord.include_dir / "demo.conf").write_text(
        "[program:sleeper]\ncommand = sleep 600\nstartsecs = 0\n\n"
        "[program:idle]\ncommand = sleep 600\nautostart = false\n\n"
        "[program:crash]\ncommand = false\nstartsecs = 1\nstartretries = 0\n\n"
        "[group:demo]\nprograms = sleeper, idle, crash\n"
    )
    supervisord.client.call("reloadConfig")
    supervisord.client.call("addProcessGroup", "demo")
    wait_until(
        lambda: (
            {p.name: p.state for p in supervisord.client.processes()}
            == {"sleeper": "RUNNING", "idle": "STOPPED", "crash": "FATAL"}
        ),
        what="demo:sleeper running, demo:idle stopped, demo:crash fatal",
    )
    notices = pistate.stack_notices(stack_state(supervisord.client))
    assert sorted(n["title"] for n in notices) == ["demo:crash is FATAL", "demo:idle is STOPPED"]
    assert all(n["action"].startswith(f"supervisorctl tail {n['title'].split()[0]}") for n in notices)


def test_the_disk_is_said_full_from_the_threshold_on(tmp_path):
    fs = os.statvfs(tmp_path)
    used = fs.f_blocks - fs.f_bfree
    percent = pistate.rounded_up_percent(used, used + fs.f_bavail)
    [notice] = pistate.disk_notices(tmp_path, percent)
    assert notice["title"] == f"The disk is {percent}% full"
    assert f"{fs.f_bavail * fs.f_frsize // 2**20} MiB free" in notice["message"]
    assert "disk_warning_percent" in notice["action"]
    if percent < 100:
        assert pistate.disk_notices(tmp_path, percent + 1) == []
    assert pistate.disk_notices(tmp_path / "missing", 1) == []


def test_the_clock_is_said_unsynchronised_only_where_timesyncd_keeps_it(tmp_path):
    timesync = files(tmp_path).timesync_dir
    assert pistate.clock_notices(timesync) == []  # another NTP daemon, or none: not known here
    timesync.mkdir()
    [notice] = pistate.clock_notices(timesync)
    assert notice["title"] == "The clock is not synchronised"
    assert "no battery-backed clock" in notice["message"] and "timedatectl" in notice["action"]
    (timesync / "synchronized").touch()
    assert pistate.clock_notices(timesync) == []


def test_all_notices_together_are_bounded_and_each_says_what_to_do(tmp_path):
    paths = files(tmp_path)
    paths.reboot_required.write_text(ROLE_NOTICE)
    paths.timesync_dir.mkdir()
    failing = [{"name": f"lamp-{n}", "ok": False, "error": "no"} for n in range(20)]
    notices = pistate.system_notices(
        report={"driver": {"backends": failing}},
        stack=NOTHING_RUNS,
        data_dir=tmp_path,
        disk_warning_percent=1,
        files=paths,
    )
    assert len(notices) == pistate.MAX_NOTICES
    assert notices[0]["title"] == "The Pi needs a reboot"
    assert all(n["title"] and n["message"] and n["action"] for n in notices)
    quiet = pistate.system_notices(
        report=None,
        stack=NOTHING_RUNS,
        data_dir=tmp_path,
        disk_warning_percent=100,
        files=files(tmp_path / "x"),
    )
    assert quiet == []


def test_the_status_page_shows_the_disk_threshold_it_is_given(tmp_path):
    def disk_titles(warning_percent: int) -> list[str]:
        server = ServerConfig(notices_dir=tmp_path / "none", disk_warning_percent=warning_percent)
        application = create_app(Config(data_dir=tmp_path / "data", server=server))
        try:
            notices = application.test_client().get("/api/status").get_json()["notices"]
        finally:
            application.extensions["appliance"].close()
        return [n["title"] for n in notices if n["title"].startswith("The disk")]

    assert len(disk_titles(1)) == 1
    assert disk_titles(100) == [] or os.statvfs(tmp_path).f_bavail == 0
