"""With the usual umask (022), what the appliance makes in its data directory is its user's alone:
directories 0700, files 0600."""

import os
import stat

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from appliance import stack
from appliance.auth import ROLES, role_token, token_file
from appliance.ci import cli as ci_cli
from appliance.ci.observer import Observer
from appliance.ci.runner import Runner
from appliance.cli import main
from appliance.config import Config, load_file
from appliance.db import Database
from appliance.web import create_app


@pytest.fixture(autouse=True)
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes(root):
    return {
        path.relative_to(root).as_posix(): stat.S_IMODE(path.stat().st_mode)
        for path in [root, *root.rglob("*")]
    }


def not_private(root, inside_left_alone=()):
    """What is not 0700 (a directory) or 0600 (a file) under ``root``, except inside the
    directories named, whose content git and build commands make (the directory itself counts)."""
    return {
        name: oct(mode)
        for name, mode in modes(root).items()
        if mode != (0o700 if stat.S_ISDIR((root / name).stat().st_mode) else 0o600)
        and not any(name.startswith(f"{directory}/") for directory in inside_left_alone)
    }


def test_the_programs_make_their_data_directory_private(tmp_path, monkeypatch):
    data_dir = tmp_path / "state" / "appliance"
    config_file = tmp_path / "appliance.toml"
    config_file.write_text(f'data_dir = "{data_dir}"\n\n[[ci.repos]]\nname = "app"\nurl = "/srv/app.git"\n')
    config = load_file(config_file)
    app = create_app(config)  # the server: the database and every role's token
    database = app.extensions["appliance"].db
    try:
        with database.write() as conn:
            conn.execute(text("UPDATE meta SET value = value"))
        stack.write_supervisord(config)  # `appliance stack up`: run/ and logs/
        monkeypatch.setattr(Observer, "run", lambda self: None)
        monkeypatch.setattr(Runner, "run", lambda self: None)
        monkeypatch.setattr(ci_cli, "_on_stop_signals", lambda stop: None)
        for program in (["observer"], ["runner", "--name", "r1"]):
            result = CliRunner().invoke(main, [*program, "--config", str(config_file)])
            assert result.exit_code == 0, result.output
        found = modes(data_dir)
        # SQLite makes these while the database is open, with the database file's mode.
        assert {"appliance.db", "appliance.db-wal", "appliance.db-shm"} <= set(found)
        assert {
            "secrets/runner-token",
            "run/supervisord.conf",
            "logs",
            "ci/observer",
            "ci/runners/r1",
        } <= set(found)
        assert not_private(data_dir, inside_left_alone=("ci/observer", "ci/runners/r1")) == {}
    finally:
        app.extensions["appliance"].close()


def test_what_an_older_version_left_readable_is_narrowed(tmp_path):
    data_dir = tmp_path / "appliance"
    (data_dir / "secrets").mkdir(parents=True, mode=0o755)
    (data_dir / "appliance.db").touch(mode=0o644)
    config = Config(data_dir=data_dir)
    Database.in_data_dir(config.database_path).close()
    for role in ROLES:
        role_token(config, role)
    tokens = {f"secrets/{token_file(config, role).name}" for role in ROLES}
    assert set(modes(data_dir)) == {".", "secrets", "appliance.db", *tokens}
    assert not_private(data_dir) == {}
