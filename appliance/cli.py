"""The ``appliance`` command: one CLI for every program and every chore.

Heavy imports (Flask, SQLAlchemy) happen inside the commands that need them, so that the small
programs of the stack stay small in memory, and so that a build box that installs the package
without its ``server`` extra can run ``appliance runner``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import click

from appliance import __version__
from appliance import config as config_module
from appliance.ci.cli import ci_group, observer_command, runner_command
from appliance.commandline import setup_logging, with_config
from appliance.config import Config
from appliance.image.cli import image_group
from appliance.lamp.cli import lamp_group
from appliance.monitor.cli import monitor_command
from appliance.progress.cli import progress_group
from appliance.showroom.cli import showroom_group


class ApplianceGroup(click.Group):
    """On a build box's install (without the ``server`` extra), a command of the Pi's stack says
    what to install instead of ending with a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            # Every other library comes with the package: one missing is the extra's.
            if exc.name is None or exc.name.partition(".")[0] == "appliance":
                raise
            raise click.ClickException(
                f"Python module {exc.name!r} is not installed: this command needs the package with its "
                "`server` extra (pip install '<wheel or checkout>[server]')"
            ) from None


@click.group(cls=ApplianceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="appliance")
def main() -> None:
    """The build-status appliance: lamp, status page, CI and test tracking on a Raspberry Pi."""


@main.command()
@click.option("--host", help="Listen address (overrides [server] host).")
@click.option("--port", type=click.IntRange(1, 65535), help="Listen port (overrides [server] port).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Overrides data_dir.")
@with_config
def server(config: Config, host: str | None, port: int | None, data_dir: Path | None) -> None:
    """Run the web server: status page, API and event stream."""
    from appliance.web import serve

    overrides = {"host": host, "port": port}
    config = config.replace(
        server=dataclasses.replace(config.server, **{k: v for k, v in overrides.items() if v is not None})
    )
    if data_dir is not None:
        config = config.replace(data_dir=data_dir.resolve())
    setup_logging()
    serve(config)


for _command in (
    lamp_group,
    monitor_command,
    runner_command,
    observer_command,
    ci_group,
    progress_group,
    showroom_group,
    image_group,
):
    main.add_command(_command)


@main.group("config")
def config_group() -> None:
    """Check or show the configuration in effect."""


@config_group.command("check")
@with_config
def config_check(config: Config) -> None:
    """Validate the configuration and resolve every secret it names."""
    problems = config_module.secret_problems(config)
    for problem in problems:
        click.echo(f"{config.source}: {problem}", err=True)
    if problems:
        sys.exit(1)
    click.echo(f"{config.source}: ok")


@config_group.command("show")
@with_config
def config_show(config: Config) -> None:
    """Print the configuration in effect as TOML; secrets appear as their references only."""
    click.echo(config_module.to_toml(config), nl=False)


@main.command("passwd")
@click.option(
    "--print",
    "print_only",
    is_flag=True,
    help="Only print the password_hash line (for Ansible and the like); change no file.",
)
@with_config
def passwd(config: Config, print_only: bool) -> None:
    """Set the password people log in with: its hash into [auth] password_hash.

    Asked twice without echo on a terminal; otherwise one line is read from standard input, so a
    script can pipe it in. Never an argument: arguments are visible to every user of the machine.
    """
    from appliance.login import hash_password, password_problem
    from appliance.passwd import password_hash_line, write_password_hash

    if sys.stdin.isatty():
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if problem := password_problem(password):
        raise click.ClickException(problem)
    password_hash = hash_password(password)
    if print_only:
        click.echo(password_hash_line(password_hash))
        return
    if config.file is None:
        raise click.ClickException(
            f"there is no configuration file to write to ({config.source}): name one with --config, "
            "or use --print and put the line into [auth] yourself"
        )
    try:
        write_password_hash(config.file, password_hash)
    except (config_module.ConfigError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{config.file}: password set; the server takes it at its next request, and logins made "
        "with the old password end",
        err=True,
    )


@main.group("stack", invoke_without_command=True)
@click.pass_context
def stack_group(ctx: click.Context) -> None:
    """Run the stack under supervisord (alone: `stack generate`)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(stack_generate)


@stack_group.command("generate")
@click.option("--programs-only", is_flag=True, help="Only the [program:*] sections, for Debian's supervisor.")
@with_config
def stack_generate(config: Config, programs_only: bool) -> None:
    """Print the supervisord configuration of the stack."""
    from appliance import stack

    render = stack.render_programs if programs_only else stack.render_supervisord
    click.echo(render(config), nl=False)


@stack_group.command("up")
@with_config
def stack_up(config: Config) -> None:
    """Run the whole stack under supervisord in the foreground (Ctrl-C stops it)."""
    from appliance import stack

    conf = stack.write_supervisord(config)
    command = stack.supervisord_command(conf)
    click.echo(
        f"supervisord with {conf}; status page on http://{config.server.host}:{config.server.port}", err=True
    )
    os.execvp(command[0], command)  # noqa: S606 - supervisord takes this process's place


@stack_group.command("status")
@with_config
def stack_status(config: Config) -> None:
    """List the programs of the running stack and their states."""
    from appliance.supervisor import Supervisor, SupervisorUnavailable

    try:
        processes = Supervisor(config.supervisor_socket).processes()
    except SupervisorUnavailable as exc:
        raise click.ClickException(f"{exc}; start the stack with `appliance stack up`") from None
    for process in processes:
        click.echo(f"{process.full_name:<30} {process.state:<10} {process.description}")
    if any(p.state != "RUNNING" for p in processes):
        sys.exit(3)
