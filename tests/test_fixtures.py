"""The shared fixtures really run what they claim to run."""

import pytest

from tests.conftest import http_json

pytestmark = pytest.mark.slow


def test_lircd_records_the_frame_irsend_sends(lircd):
    result = lircd.irsend("SEND_ONCE", "LED_24_KEY", "RED")
    assert result.returncode == 0, result.stderr
    assert lircd.codes() == [0x00F720DF]


def test_lircd_refuses_an_unknown_key(lircd):
    result = lircd.irsend("SEND_ONCE", "LED_24_KEY", "NOPE")
    assert result.returncode == 1
    assert 'unknown command: "NOPE"' in result.stdout
    assert lircd.codes() == []


def test_supervisord_runs_a_program_from_its_include_directory(supervisord):
    (supervisord.include_dir / "sleeper.conf").write_text(
        "[program:sleeper]\ncommand = sleep 600\nstartsecs = 0\nautostart = false\n"
    )
    supervisord.client.call("reloadConfig")
    supervisord.client.call("addProcessGroup", "sleeper")
    supervisord.client.call("startProcess", "sleeper")
    [sleeper] = supervisord.client.processes()
    assert (sleeper.name, sleeper.state) == ("sleeper", "RUNNING")


def test_git_repo_has_real_commits(git_repo):
    second = git_repo.commit({"README": "hello\n"}, "Second commit")
    assert git_repo.git("log", "--format=%H") == f"{second}\n{git_repo.commits[0]}"
    assert git_repo.git("show", "-s", "--format=%an %s", second) == "Ada Tester Second commit"


def test_appliance_server_answers_on_its_port(appliance_server):
    status, body = http_json(appliance_server.url + "/healthz")
    assert status == 200 and body["ok"]
    assert (appliance_server.data_dir / "appliance.db").exists()
