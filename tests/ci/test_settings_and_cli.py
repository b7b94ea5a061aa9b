"""[ci] settings, the CI's programs in the stack, and the `appliance ci` commands."""

import subprocess

import pytest
from click.testing import CliRunner

from appliance import config as config_module
from appliance.ci.settings import CIConfig, CIRepoConfig
from appliance.cli import main
from appliance.config import Config, ConfigError
from appliance.stack import programs
from tests.ci.conftest import ci_config
from tests.conftest import APPLIANCE, http_json


def load(tmp_path, text):
    path = tmp_path / "appliance.toml"
    path.write_text(text)
    return config_module.load_file(path)


def test_repositories_are_read_from_array_tables(tmp_path):
    config = load(
        tmp_path,
        '[ci]\nlease_seconds = 5\n[[ci.repos]]\nname = "app"\nurl = "https://git.example.org/app.git"\n'
        'branch = "trunk"\ncommand = "make test"\npoll_seconds = 30\nsecret = "env:APP_HOOK"\n',
    )
    [repo] = config.ci.repos
    assert (repo.name, repo.branch, repo.command, repo.poll_seconds) == ("app", "trunk", "make test", 30.0)
    assert repo.secret.ref == "env:APP_HOOK" and config.ci.lease_seconds == 5.0
    assert '[[ci.repos]]\nname = "app"' in config_module.to_toml(config)


@pytest.mark.parametrize(
    ("repos", "problem"),
    [
        ('[[ci.repos]]\nname = "../etc"\nurl = "x"\n', "ci.repos[0].name: must be 1-64 letters"),
        ('[[ci.repos]]\nname = "app"\n', "ci.repos: every repository needs a name and a url"),
        (
            '[[ci.repos]]\nname = "a"\nurl = "x"\n[[ci.repos]]\nname = "a"\nurl = "y"\n',
            "names must be unique",
        ),
        ('[[ci.repos]]\nname = "a"\nurl = "x"\npoll = 3\n', "ci.repos[0].poll: unknown key"),
        ("[ci]\nrunners = -1\n", "ci.runners: must be 0 or more"),
    ],
)
def test_a_wrong_repository_setting_is_an_error_naming_the_key(tmp_path, repos, problem):
    with pytest.raises(ConfigError, match=r"appliance\.toml: ") as error:
        load(tmp_path, repos)
    assert problem in str(error.value)


def test_the_stack_runs_the_observer_and_runners_only_when_there_is_something_to_build(tmp_path):
    names = [p.name for p in programs(Config(data_dir=tmp_path))]
    assert "observer" not in names and not any(n.startswith("runner") for n in names)
    ci = CIConfig(repos=[CIRepoConfig(name="app", url="/srv/app.git")], runners=2)
    stack = {p.name: p.arguments for p in programs(Config(data_dir=tmp_path, ci=ci))}
    assert stack["observer"] == ("observer",)
    assert stack["runner-1"] == ("runner", "--name", "runner-1")
    assert stack["runner-2"] == ("runner", "--name", "runner-2")


def load_file(tmp_path):
    path = tmp_path / "appliance.toml"
    path.write_text(f'data_dir = "{tmp_path}/data"\n')
    return path


def test_a_runner_name_must_be_safe_in_paths_and_urls(tmp_path):
    result = CliRunner().invoke(main, ["runner", "--name", "../up", "--config", str(load_file(tmp_path))])
    assert result.exit_code == 2 and "'../up' must be 1-64 letters" in result.output


def test_a_build_user_must_exist_and_be_a_user_name(tmp_path):
    config = load_file(tmp_path)
    config.write_text(config.read_text() + '[ci]\nbuild_user = "no-such-build-user"\n')
    result = CliRunner().invoke(main, ["runner", "--name", "r1", "--config", str(config)])
    assert result.exit_code == 1 and "build_user 'no-such-build-user': no such user" in result.output
    with pytest.raises(ConfigError, match="is not a user name"):
        load(tmp_path, '[ci]\nbuild_user = "-u root"\n')


def test_the_observer_needs_repositories(tmp_path):
    result = CliRunner().invoke(main, ["observer", "--config", str(load_file(tmp_path))])
    assert result.exit_code == 1 and "no [[ci.repos]] to watch" in result.output


def ci_command(server, *args):
    return subprocess.run(
        [APPLIANCE, "ci", *args, "--config", str(server.config_file)],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.slow
def test_the_ci_commands_list_cancel_and_rebuild_over_http(start_server, git_repo):
    server = start_server(ci_config([{"name": "app", "url": str(git_repo.path)}]))
    token = (server.data_dir / "secrets" / "api-token").read_text().strip()
    body = {
        "repo": "app",
        "commits": [{"sha": git_repo.commits[0], "author": "Ada", "message": "Add a passing test"}],
    }
    assert (
        http_json(server.url + "/api/ci/commits", "POST", body, {"Authorization": f"Bearer {token}"})[0]
        == 200
    )
    listed = ci_command(server, "builds")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[:4] == ["1", "app", git_repo.commits[0][:8], "queued"]
    assert "Add a passing test" in listed.stdout

    cancelled = ci_command(server, "cancel", "1")
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    again = ci_command(server, "cancel", "1")
    assert again.returncode == 1 and "already ended: cancelled" in again.stderr

    rebuilt = ci_command(server, "rebuild", git_repo.commits[0][:10])
    assert rebuilt.returncode == 0 and rebuilt.stdout.split()[:4] == [
        "2",
        "app",
        git_repo.commits[0][:8],
        "queued",
    ]
    unknown = ci_command(server, "rebuild", "deadbeef")
    assert unknown.returncode == 1 and "no build of a commit starting with 'deadbeef'" in unknown.stderr

    server.stop()
    down = ci_command(server, "builds")
    assert down.returncode == 1 and "is `appliance server` running?" in down.stderr
