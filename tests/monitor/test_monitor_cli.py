"""The options of ``appliance monitor`` that stop it before it starts."""

from __future__ import annotations

from click.testing import CliRunner

from appliance.cli import main

SEED = ["monitor", "--octopus-url", "http://o/", "--octopus-project", "P", "--octopus-environment", "E"]


def test_the_api_key_comes_from_the_environment_or_a_file_never_from_the_command_line(monkeypatch):
    monkeypatch.delenv("OCTOPUS_API_KEY", raising=False)
    result = CliRunner().invoke(main, SEED)
    assert result.exit_code == 2
    assert (
        "no Octopus API key: secret env:OCTOPUS_API_KEY: environment variable OCTOPUS_API_KEY is not set"
        in (result.output)
    )
    result = CliRunner().invoke(main, [*SEED, "--octopus-api-key", "API-123"])
    assert result.exit_code == 2
    assert "No such option '--octopus-api-key'" in result.output


def test_the_seed_flags_go_together(tmp_path):
    key_file = tmp_path / "octopus-key"
    key_file.write_text("API-FROMFILE\n")
    result = CliRunner().invoke(main, ["monitor", "--frequency", "5"])
    assert result.exit_code == 2
    assert "the --octopus-* options and --frequency need --octopus-url" in result.output
    result = CliRunner().invoke(main, [*SEED[:5], "--octopus-api-key-file", str(key_file)])
    assert result.exit_code == 2
    assert "--octopus-url needs --octopus-project and --octopus-environment" in result.output


def test_a_source_missing_a_key_stops_the_monitor_with_the_key(tmp_path):
    config = tmp_path / "appliance.toml"
    config.write_text(f'data_dir = "{tmp_path}/data"\n\n[[monitor.cctray]]\nname = "ci"\n')
    result = CliRunner().invoke(main, ["monitor", "--config", str(config)])
    assert result.exit_code == 1
    assert f"Error: {config}: monitor.cctray[0].url: must be set" in result.output
