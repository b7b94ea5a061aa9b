from click.testing import CliRunner

from appliance.cli import main

# Commands that do not act on an appliance: `image build` runs on a development machine, and what
# it builds is configured by the Ansible inventory.
WITHOUT_CONFIG = {("image", "build")}


def test_every_command_takes_config():
    for name, command in main.commands.items():
        commands = command.commands.values() if hasattr(command, "commands") else [command]
        for sub in commands:
            if (name, sub.name) in WITHOUT_CONFIG:
                assert not any("--config" in p.opts for p in sub.params)
                continue
            assert any("--config" in p.opts for p in sub.params), f"{name} {sub.name} lacks --config"


def test_stack_generate_describes_the_server_program(tmp_path):
    config = tmp_path / "a b%.toml"
    config.write_text(f'data_dir = "{tmp_path}/data"\n')
    result = CliRunner().invoke(main, ["stack", "generate", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "[program:server]" in result.output
    # The path is quoted for the shell and the percent sign escaped for supervisord.
    assert f"server --config '{tmp_path}/a b%%.toml'" in result.output
    assert f"file = {tmp_path}/data/run/supervisor.sock" in result.output
    assert "stopasgroup = true" in result.output


def test_stack_alone_generates_and_programs_only_leaves_out_supervisord(tmp_path):
    config = tmp_path / "appliance.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n')
    alone = CliRunner().invoke(main, ["stack"], env={"APPLIANCE_CONFIG": str(config)})
    assert "[supervisord]" in alone.output and "[program:server]" in alone.output
    programs = CliRunner().invoke(main, ["stack", "generate", "--programs-only", "--config", str(config)])
    assert "[supervisord]" not in programs.output
    assert "[program:server]" in programs.output
    assert "[group:appliance]\nprograms = server" in programs.output


def test_the_programs_log_where_stack_log_dir_says_else_in_the_data_directory(tmp_path):
    config = tmp_path / "appliance.toml"
    config.write_text(f'data_dir = "{tmp_path}/data"\n')
    default = CliRunner().invoke(main, ["stack", "generate", "--programs-only", "--config", str(config)])
    assert f"stdout_logfile = {tmp_path}/data/logs/server.log" in default.output
    config.write_text(f'data_dir = "{tmp_path}/data"\n[stack]\nlog_dir = "/var/log/appliance"\n')
    moved = CliRunner().invoke(main, ["stack", "generate", "--programs-only", "--config", str(config)])
    assert "stdout_logfile = /var/log/appliance/server.log" in moved.output
    assert f"{tmp_path}/data/logs" not in moved.output


def test_stack_status_without_supervisord_says_how_to_start_it(tmp_path):
    config = tmp_path / "appliance.toml"
    config.write_text(f'data_dir = "{tmp_path}"\n')
    result = CliRunner().invoke(main, ["stack", "status", "--config", str(config)])
    assert result.exit_code == 1
    assert "supervisord does not answer" in result.output
    assert "appliance stack up" in result.output


def test_a_broken_config_stops_any_command_with_the_key(tmp_path):
    config = tmp_path / "appliance.toml"
    config.write_text("[server]\nport = true\n")
    result = CliRunner().invoke(main, ["server", "--config", str(config)])
    assert result.exit_code == 1
    assert "server.port: expected an integer, got True" in result.output
