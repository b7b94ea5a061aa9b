"""A build's environment: a clean base, its repository's `env` (secrets revealed by the server at
dispatch, never stored) and the CI variables; nothing of the runner's own, whose secrets stay out
of the public log."""

import pytest

from appliance import config as config_module
from appliance.ci.cli import _readable_secrets
from appliance.ci.dispatcher import Dispatcher, Settings
from appliance.ci.environment import LOCALE, build_environment, env_problem, work_env
from appliance.ci.settings import CIConfig, CIRepoConfig
from appliance.ci.store import CommitSpec, RepoSpec
from appliance.config import Config, ConfigError, Secret
from appliance.db import Database
from appliance.events import EventBus
from tests.ci.conftest import CI, ci_config
from tests.conftest import ApplianceServer

WORK = {
    "build": 7,
    "attempt": 2,
    "repo": {"name": "app", "url": "/srv/app.git", "branch": "main"},
    "commit": "c" * 40,
    "env": {"GREETING": "hello", "LANG": "de_DE.UTF-8"},
}


def load(tmp_path, text):
    path = tmp_path / "appliance.toml"
    path.write_text(text)
    return config_module.load_file(path)


def test_a_repositorys_env_is_read_and_shown_back_as_written(tmp_path):
    config = load(
        tmp_path,
        '[[ci.repos]]\nname = "app"\nurl = "x"\nenv = { GREETING = "hello", DEPLOY_KEY = "env:DEPLOY" }\n',
    )
    assert config.ci.repos[0].env == {"GREETING": "hello", "DEPLOY_KEY": "env:DEPLOY"}
    shown = config_module.to_toml(config)
    assert 'DEPLOY_KEY = "env:DEPLOY"\n' in shown
    assert load(tmp_path, shown).ci.repos[0].env == config.ci.repos[0].env


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ('{ lower = "x" }', "'lower' is not a variable name"),
        ('{ "1X" = "x" }', "'1X' is not a variable name"),
        ('{ PATH = "/opt/bin" }', "PATH is set by the runner"),
        ('{ HOME = "/root" }', "HOME is set by the runner"),
        ('{ CI = "false" }', "CI is set by the runner"),
        ('{ APPLIANCE_CI_ANYTHING = "x" }', "APPLIANCE_CI_ANYTHING is set by the runner"),
        ('{ KEY = "env:" }', 'KEY: expected "env:VARIABLE" or "file:/path/to/file"'),
        ("{ KEY = 1 }", "env.KEY: expected a string, got 1"),
    ],
)
def test_a_wrong_env_is_an_error_naming_the_key(tmp_path, env, problem):
    with pytest.raises(ConfigError, match=r"ci\.repos\[0\]\.env") as error:
        load(tmp_path, f'[[ci.repos]]\nname = "app"\nurl = "x"\nenv = {env}\n')
    assert problem in str(error.value)


def test_every_variable_the_runner_sets_is_refused_in_a_repositorys_env(tmp_path):
    set_by_runner = build_environment({**WORK, "env": {}}, tmp_path).keys() - LOCALE.keys()
    assert {name for name in set_by_runner if env_problem({name: "x"}) is None} == set()
    assert env_problem(dict(LOCALE)) is None  # the locale is the repository's to choose


def test_a_build_gets_a_clean_environment_and_nothing_of_the_runners(tmp_path, monkeypatch):
    monkeypatch.setenv("OCTOPUS_API_KEY", "octopus-key-of-the-runner")
    monkeypatch.setenv("PATH", "/opt/tools/bin:/usr/bin:/bin")
    env = build_environment(WORK, tmp_path)
    assert env == {
        "PATH": "/opt/tools/bin:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path / "tmp"),
        "LANG": "de_DE.UTF-8",
        "LC_ALL": "C.UTF-8",
        "GREETING": "hello",
        "CI": "true",
        "PYTHONUNBUFFERED": "1",
        "APPLIANCE_CI_BUILD": "7",
        "APPLIANCE_CI_ATTEMPT": "2",
        "APPLIANCE_CI_REPO": "app",
        "APPLIANCE_CI_BRANCH": "main",
        "APPLIANCE_CI_COMMIT": "c" * 40,
    }


def test_secret_references_are_revealed_and_named_and_an_unreadable_one_is_a_problem(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPLOY", "deploy-token")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    (tmp_path / "key").write_text("file-secret\n")
    configured = {
        "PLAIN": "visible",
        "FROM_ENV": "env:DEPLOY",
        "FROM_FILE": f"file:{tmp_path / 'key'}",
        "MISSING": "env:NOT_SET_ANYWHERE",
    }
    assert work_env(configured) == {
        "env": {"PLAIN": "visible", "FROM_ENV": "deploy-token", "FROM_FILE": "file-secret"},
        "secret_env": ["FROM_ENV", "FROM_FILE", "MISSING"],
        "env_problems": [
            "env MISSING: secret env:NOT_SET_ANYWHERE: environment variable NOT_SET_ANYWHERE is not set"
        ],
    }


def test_the_dispatcher_reveals_a_repositorys_env_for_the_runner_and_never_stores_it(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPLOY", "deploy-token-never-stored")
    repo = CIRepoConfig(name="app", url="/srv/app.git", env={"PLAIN": "visible", "DEPLOY_KEY": "env:DEPLOY"})
    database = Database.in_data_dir(tmp_path / "appliance.db")
    database.migrate()
    dispatcher = Dispatcher(database, EventBus(), Settings.from_config(CIConfig(repos=[repo])))
    spec = RepoSpec(name="app", url="/srv/app.git", branch="main", command="")
    try:
        dispatcher.start([spec])
        dispatcher.add_commits("app", [CommitSpec(sha="a" * 40, author="Ada", message="one")])
        dispatcher.register("r1", [], 1, set())
        work = dispatcher.next("r1", wait=0)
    finally:
        dispatcher.stop()
        database.close()
    assert work["env"] == {"PLAIN": "visible", "DEPLOY_KEY": "deploy-token-never-stored"}
    assert (work["secret_env"], work["env_problems"]) == (["DEPLOY_KEY"], [])
    stored = b"".join(path.read_bytes() for path in tmp_path.glob("appliance.db*"))
    assert b"visible" not in stored and b"deploy-token-never-stored" not in stored


def test_the_runner_masks_every_secret_of_its_configuration_it_can_read(tmp_path, monkeypatch):
    monkeypatch.setenv("ADMIN_TOKEN", "admin-token-value")
    monkeypatch.setenv("DEPLOY", "deploy-token-value")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "observer-token").write_text("generated-observer-token\n")
    repo = CIRepoConfig(
        name="app",
        url="x",
        secret=Secret("env:NOT_SET_ANYWHERE"),
        env={"PLAIN": "visible", "DEPLOY_KEY": "env:DEPLOY"},
    )
    config = Config(
        data_dir=tmp_path,
        auth=config_module.AuthConfig(token=Secret("env:ADMIN_TOKEN")),
        ci=CIConfig(repos=[repo]),
    )
    assert sorted(_readable_secrets(config)) == [
        "admin-token-value",
        "deploy-token-value",
        "generated-observer-token",
    ]


OCTOPUS_SOURCE = (
    '\n[[monitor.octopus]]\nurl = "https://octopus.example.com/"\nproject = "Projects-1"\n'
    'environment = "Environments-1"\napi_key = "env:OCTOPUS_API_KEY"\n'
)
SHELL_VARIABLES = {b"PWD"}  # what /bin/sh adds itself


@pytest.mark.slow
def test_the_public_log_of_a_build_holds_no_secret_of_the_runner_and_its_own_masked(
    tmp_path, git_repo, monkeypatch
):
    monkeypatch.setenv("OCTOPUS_API_KEY", "octopus-key-of-the-monitor")
    monkeypatch.setenv("DEPLOY_SOURCE", "deploy-token-for-the-build")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    hook_secret = tmp_path / "hook-secret"
    hook_secret.write_text("webhook-secret-of-the-repo\n")
    server = ApplianceServer(tmp_path / "server")
    tokens = server.data_dir / "secrets"
    command = (
        "echo '--- env'; env; echo '--- end'; "
        'echo "deploy: $DEPLOY_TOKEN"; '
        "tr '\\0' '\\n' < /proc/$PPID/environ; "  # the runner's environment: its builds can read it
        f"cat {hook_secret} {tokens / 'runner-token'} {tokens / 'api-token'}"
    )
    repos = [
        {
            "name": "demo",
            "url": str(git_repo.path),
            "command": command,
            "secret": f"file:{hook_secret}",
            "env": {"GREETING": "hello-from-the-config", "DEPLOY_TOKEN": "env:DEPLOY_SOURCE"},
        },
        {"name": "unreadable", "url": str(git_repo.path), "env": {"MISSING": "env:NOT_SET_ANYWHERE"}},
    ]
    server.extra_config = ci_config(repos) + OCTOPUS_SOURCE
    ci = CI(server, tmp_path)
    try:
        server.start()
        ci.runner("r1")
        for repo in repos:
            ci.queue(repo, [git_repo.commits[0]])
        demo, unreadable = ci.wait_finished(2)
        log = ci.log(demo["id"])  # as anyone reads it: no token
    finally:
        ci.stop()
        server.stop()

    assert demo["status"] == "passed", log.decode(errors="replace")
    env = dict(line.split(b"=", 1) for line in log.split(b"--- env\n")[1].split(b"--- end\n")[0].splitlines())
    assert env.keys() - SHELL_VARIABLES == {
        *(name.encode() for name in ("PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "CI", "PYTHONUNBUFFERED")),
        *(b"APPLIANCE_CI_" + name for name in (b"BUILD", b"ATTEMPT", b"REPO", b"BRANCH", b"COMMIT")),
        b"GREETING",
        b"DEPLOY_TOKEN",
    }
    assert (env[b"GREETING"], env[b"DEPLOY_TOKEN"], env[b"APPLIANCE_CI_REPO"]) == (
        b"hello-from-the-config",
        b"***",
        b"demo",
    )
    assert env[b"HOME"].startswith(str(server.data_dir / "ci" / "runners" / "r1" / "builds").encode())
    assert b"deploy: ***\n" in log
    assert b"\nOCTOPUS_API_KEY=***\n" in log and b"\nDEPLOY_SOURCE=***\n" in log
    for secret in (
        b"octopus-key-of-the-monitor",
        b"deploy-token-for-the-build",
        b"webhook-secret-of-the-repo",
        (tokens / "runner-token").read_bytes().strip(),
        (tokens / "api-token").read_bytes().strip(),
    ):
        assert secret not in log

    assert unreadable["status"] == "error"
    assert "environment variable NOT_SET_ANYWHERE is not set" in unreadable["reason"]
