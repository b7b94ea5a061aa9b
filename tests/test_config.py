from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance import config as config_module
from appliance import schema
from appliance.cli import main
from appliance.config import Config, ConfigError, Secret


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_built_in_defaults_run_on_a_laptop(monkeypatch):
    monkeypatch.delenv("APPLIANCE_CONFIG", raising=False)
    monkeypatch.setattr(config_module, "SYSTEM_CONFIG", Path("/nonexistent/appliance.toml"))
    config = config_module.load()
    assert config.file is None
    assert config.server.port == 8080
    assert config.server.host == "127.0.0.1"
    assert "APPLIANCE_CONFIG (not set)" in config.source
    assert "/nonexistent/appliance.toml (no such file)" in config.source


def test_a_file_sets_values_and_relative_paths_are_relative_to_the_file(tmp_path):
    path = write(tmp_path, 'data_dir = "state"\n[server]\nhost = "0.0.0.0"\nport = 9000\n')
    config = config_module.load(path)
    assert config.data_dir == tmp_path / "state"
    assert (config.server.host, config.server.port) == ("0.0.0.0", 9000)
    assert config.file == path.resolve()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[server]\nport = "eighty"\n', "server.port: expected an integer, got 'eighty'"),
        ("[server]\nport = 70000\n", "server.port: must be between 1 and 65535, got 70000"),
        (
            "[server]\ndisk_warning_percent = 0\n",
            "server.disk_warning_percent: must be between 1 and 100, got 0",
        ),
        (
            "[server]\nprot = 8080\n",
            "server.prot: unknown key (known keys here: cc_xml_sources, disk_warning_percent, "
            "hide_names, host, max_streams, notices_dir, port, threads)",
        ),
        ("colour = 1\n", "colour: unknown key"),
        ("[lamp]\nbackend = 'ir'\n", "lamp.backend: unknown backend 'ir' (known: lirc, gpio, virtual)"),
        ("[lamp]\ncolour = 'RED'\n", "lamp.colour: unknown key"),
        ("server = 3\n", "server: expected a table, got 3"),
        ('[auth]\ntoken = "hunter2"\n', 'auth.token: expected "env:VARIABLE" or "file:/path/to/file"'),
        ("[server\n", "not valid TOML"),
    ],
)
def test_a_bad_file_names_the_file_the_key_and_the_problem(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        config_module.load(path)
    assert str(path) in str(raised.value)
    assert expected in str(raised.value)


def test_a_missing_file_says_where_it_looked(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"config file not found: .*nope.toml \(named by --config\)"):
        config_module.load(tmp_path / "nope.toml")
    monkeypatch.setenv("APPLIANCE_CONFIG", str(tmp_path / "env.toml"))
    with pytest.raises(ConfigError, match=r"env.toml \(named by \$APPLIANCE_CONFIG\)"):
        config_module.load()


def test_the_environment_variable_is_used_when_no_option_is_given(tmp_path, monkeypatch):
    path = write(tmp_path, "[server]\nport = 8181\n")
    monkeypatch.setenv("APPLIANCE_CONFIG", str(path))
    assert config_module.load().server.port == 8181


def test_secrets_come_from_the_environment_or_a_file(tmp_path, monkeypatch):
    monkeypatch.setenv("APPLIANCE_TEST_TOKEN", "s3cret\n")
    assert Secret("env:APPLIANCE_TEST_TOKEN").reveal() == "s3cret"
    key_file = tmp_path / "key"
    key_file.write_text("from-file\n")
    assert Secret(f"file:{key_file}").reveal() == "from-file"
    with pytest.raises(ConfigError, match="APPLIANCE_MISSING is not set"):
        Secret("env:APPLIANCE_MISSING").reveal()
    with pytest.raises(ConfigError, match="cannot read the file"):
        Secret(f"file:{tmp_path / 'absent'}").reveal()


def test_config_check_cli_exits_non_zero_with_the_problem(tmp_path):
    path = write(tmp_path, '[server]\nport = "eighty"\n')
    result = CliRunner().invoke(main, ["config", "check", "--config", str(path)])
    assert result.exit_code == 1
    assert f"{path}: server.port: expected an integer, got 'eighty'" in result.output


def test_config_check_cli_reports_an_unreadable_secret(tmp_path, monkeypatch):
    monkeypatch.delenv("APPLIANCE_NO_SUCH", raising=False)
    path = write(tmp_path, '[auth]\ntoken = "env:APPLIANCE_NO_SUCH"\n')
    result = CliRunner().invoke(main, ["config", "check", "--config", str(path)])
    assert result.exit_code == 1
    assert "auth.token: secret env:APPLIANCE_NO_SUCH: environment variable APPLIANCE_NO_SUCH is not set" in (
        result.output
    )


def test_config_check_cli_reports_an_unreadable_machine_token_by_its_key(tmp_path):
    path = write(tmp_path, f'[progress.tokens]\n"rig 7" = "file:{tmp_path}/missing"\n')
    result = CliRunner().invoke(main, ["config", "check", "--config", str(path)])
    assert result.exit_code == 1
    assert f"progress.tokens.rig 7: secret file:{tmp_path}/missing: cannot read the file" in result.output


def test_a_machine_token_must_be_a_secret_reference(tmp_path):
    path = write(tmp_path, '[progress.tokens]\nrig = "the-token-itself"\n')
    result = CliRunner().invoke(main, ["config", "check", "--config", str(path)])
    assert result.exit_code != 0
    assert "progress.tokens.rig" in result.output
    assert "the-token-itself" not in result.output  # a secret written where its reference goes


def test_config_check_cli_accepts_a_good_file(tmp_path):
    path = write(tmp_path, "[server]\nport = 8081\n")
    result = CliRunner().invoke(main, ["config", "check", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{path.resolve()}: ok"


def test_config_show_prints_secret_references_never_values(tmp_path, monkeypatch):
    monkeypatch.setenv("APPLIANCE_TEST_TOKEN", "do-not-print-me")
    path = write(tmp_path, '[auth]\ntoken = "env:APPLIANCE_TEST_TOKEN"\n[server]\nport = 8082\n')
    result = CliRunner().invoke(main, ["config", "show", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "do-not-print-me" not in result.output
    assert 'token = "env:APPLIANCE_TEST_TOKEN"' in result.output
    assert "port = 8082" in result.output


def test_config_show_output_is_a_config_file_that_loads_the_same(tmp_path):
    path = write(tmp_path, 'data_dir = "/var/lib/x"\n[server]\nport = 8083\nthreads = 4\n')
    shown = CliRunner().invoke(main, ["config", "show", "--config", str(path)]).output
    again = write(tmp_path, shown)
    assert config_module.load(again).replace(file=None) == config_module.load(path).replace(file=None)


def test_every_setting_has_a_help_text():
    def walk(cls):
        for f, hint in schema.schema_fields(cls):
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"
            if hasattr(hint, "__dataclass_fields__"):
                walk(hint)

    walk(Config)


def test_unions_lists_and_tables_of_values_are_checked(tmp_path):
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Example:
        backend: str | list[str] = schema.setting("a", "one or several")
        steps: dict[str, int] = schema.setting({}, "a table")

    assert schema.build(Example, {"backend": ["a", "b"]}, "", tmp_path).backend == ["a", "b"]
    assert schema.build(Example, {"backend": "a", "steps": {"x": 1}}, "", tmp_path).steps == {"x": 1}
    with pytest.raises(schema.KeyProblem, match="expected a string or a list of a string"):
        schema.build(Example, {"backend": 3}, "", tmp_path)
    with pytest.raises(schema.KeyProblem) as raised:
        schema.build(Example, {"steps": {"x": "one"}}, "", tmp_path)
    assert raised.value.key == "steps.x"
