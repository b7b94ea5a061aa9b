"""``appliance passwd``: the hash written into ``[auth]`` in place, the rest of the file kept, a
bad result or a bad password leaving the file as it was; and a bad hash in a configuration is a
configuration error that names the key."""

import os
import stat
import subprocess

import pytest
from click.testing import CliRunner

from appliance.cli import main
from appliance.config import ConfigError, load_file
from appliance.login import password_matches
from tests.harness import APPLIANCE

PASSWORD = "correct horse battery"  # noqa: S105 - the test's own
COMMENTED = """\
# The appliance of the third floor.
data_dir = "{data}"

[server]
port = 8080  # the usual

[auth]
# machines keep their tokens
public_status = false

[lamp]
backend = "virtual"
"""


def passwd(config, password: str, *options: str):
    return CliRunner().invoke(main, ["passwd", "--config", str(config), *options], input=password + "\n")


def test_passwd_writes_a_hash_that_the_password_matches_and_keeps_the_rest(tmp_path):
    config = tmp_path / "appliance.toml"
    config.write_text(COMMENTED.format(data=tmp_path / "data"))
    config.chmod(0o640)
    result = passwd(config, PASSWORD)
    assert result.exit_code == 0, result.output
    assert "password set" in result.output
    written = config.read_text()
    password_hash = load_file(config).auth.password_hash
    assert password_matches(password_hash, PASSWORD)
    assert not password_matches(password_hash, PASSWORD + "!")
    assert PASSWORD not in written
    # Only the one line is new, in the [auth] table, after its header.
    before = COMMENTED.format(data=tmp_path / "data").splitlines()
    after = written.splitlines()
    assert [line for line in after if not line.startswith("password_hash")] == before
    assert after[after.index("[auth]") + 1] == f'password_hash = "{password_hash}"'
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["appliance.toml"]  # no temporary file left

    # Again: the line is replaced, not added.
    assert passwd(config, "another long password").exit_code == 0
    again = config.read_text()
    assert again.count("password_hash") == 1
    assert password_matches(load_file(config).auth.password_hash, "another long password")


def test_passwd_adds_the_auth_table_when_there_is_none(tmp_path):
    config = tmp_path / "appliance.toml"
    config.write_text(f'data_dir = "{tmp_path}"  # no newline at the end')
    assert passwd(config, PASSWORD).exit_code == 0
    assert password_matches(load_file(config).auth.password_hash, PASSWORD)
    assert config.read_text().startswith(f'data_dir = "{tmp_path}"  # no newline at the end\n\n[auth]\n')


@pytest.mark.parametrize(
    ("password", "message"),
    [("", "the password is empty"), ("   ", "the password is empty"), ("short", "at least 10 characters")],
)
def test_passwd_refuses_an_empty_or_short_password_and_changes_nothing(tmp_path, password, message):
    config = tmp_path / "appliance.toml"
    config.write_text(COMMENTED.format(data=tmp_path))
    result = passwd(config, password)
    assert result.exit_code == 1
    assert message in result.output
    assert config.read_text() == COMMENTED.format(data=tmp_path)


def test_passwd_leaves_a_file_it_cannot_change_loadably_as_it_was(tmp_path):
    # An inline [auth] table: a new [auth] header would define it twice.
    text = f'data_dir = "{tmp_path}"\nauth = {{ public_status = true }}\n'
    config = tmp_path / "appliance.toml"
    config.write_text(text)
    result = passwd(config, PASSWORD)
    assert result.exit_code == 1
    assert "left unchanged" in result.output
    assert str(config) in result.output
    assert ".passwd-" not in result.output  # named as the file, not its temporary copy
    assert config.read_text() == text
    assert sorted(os.listdir(tmp_path)) == ["appliance.toml"]


def test_passwd_print_only_prints_the_line(tmp_path):
    config = tmp_path / "appliance.toml"
    config.write_text(COMMENTED.format(data=tmp_path))
    result = passwd(config, PASSWORD, "--print")
    assert result.exit_code == 0, result.output
    key, _, value = result.stdout.strip().partition(" = ")
    assert key == "password_hash"
    assert password_matches(value.strip('"'), PASSWORD)
    assert config.read_text() == COMMENTED.format(data=tmp_path)


def test_the_real_command_reads_the_password_from_a_pipe_never_from_its_arguments(tmp_path):
    config = tmp_path / "appliance.toml"
    config.write_text(COMMENTED.format(data=tmp_path))
    done = subprocess.run(
        [APPLIANCE, "passwd", "--config", str(config)], input=PASSWORD + "\n", capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert password_matches(load_file(config).auth.password_hash, PASSWORD)
    refused = subprocess.run([APPLIANCE, "passwd", "--password", PASSWORD], capture_output=True, text=True)
    assert refused.returncode == 2
    assert "No such option '--password'" in refused.stderr


@pytest.mark.parametrize("value", ["hunter2 is my password", "scrypt:32768:8:1$salt", "md5$abc$def"])
def test_a_password_hash_that_is_none_names_the_key_and_never_repeats_the_value(tmp_path, value):
    config = tmp_path / "appliance.toml"
    config.write_text(f'[auth]\npassword_hash = "{value}"\n')
    with pytest.raises(ConfigError) as raised:
        load_file(config)
    message = str(raised.value)
    assert message.startswith(f"{config}: auth.password_hash: must be a password hash")
    assert "appliance passwd" in message
    assert value not in message
