"""``appliance showroom ...``: the demos from the command line, and the showroom's supervisord
that the stack runs (``appliance showroom supervisord``)."""

from __future__ import annotations

import functools
import os
import sys
import xmlrpc.client
from collections.abc import Callable
from typing import Any

import click

from appliance.commandline import with_config
from appliance.config import Config, ConfigError


@click.group("showroom")
def showroom_group() -> None:
    """The demo showroom: deploy demos from recipes, start, stop and destroy them."""


def _plainly(command: Callable[..., Any]) -> Callable[..., Any]:
    """What the showroom refuses, or supervisord answers with, ends the command with one line and
    exit code 1, not a traceback."""
    from appliance.showroom.errors import DeploymentError, DestructionError, NoSuchDemo, ShowroomUnavailable

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DeploymentError as exc:
            name = kwargs.get("name")
            hint = f" (its output: `appliance showroom logs {name}`)" if exc.log else ""
            raise click.ClickException(f"{exc}{hint}") from None
        except (DestructionError, NoSuchDemo, ShowroomUnavailable, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
        except xmlrpc.client.Fault as fault:
            raise click.ClickException(f"supervisord: {fault.faultString}") from None

    return wrapper


def _showroom(config: Config):
    from appliance.showroom.demos import Showroom

    return Showroom(config)


@showroom_group.command("available")
@with_config
def available_command(config: Config) -> None:
    """The types of demo the recipes deploy, and their parameters."""
    for type_, recipe in _showroom(config).available().items():
        click.echo(f"{type_:<24} params: {', '.join(recipe['params']) or '-'}")


@showroom_group.command("list")
@with_config
@_plainly
def list_command(config: Config) -> None:
    """The deployed demos and their statuses."""
    for demo in _showroom(config).installed():
        port = demo["port"] if demo["port"] is not None else "-"
        line = f"{demo['name']:<24} {demo['type'] or '?':<16} {port!s:<6} {demo['status']:<10}"
        click.echo(f"{line} {demo['url'] or ''}".rstrip())


def _params(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    params = {}
    for value in values:
        key, equals, text = value.partition("=")
        if not equals or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {value!r}")
        params[key] = text
    return params


@showroom_group.command("deploy")
@click.argument("type_", metavar="TYPE")
@click.argument("name")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    callback=_params,
    metavar="KEY=VALUE",
    help="A recipe parameter.",
)
@with_config
@_plainly
def deploy_command(config: Config, type_: str, name: str, params: dict[str, str]) -> None:
    """Deploy a demo of TYPE named NAME (stopped: `start` it)."""
    info = _showroom(config).deploy(type_, name, params).info() or {}
    click.echo(f"{name}: deployed on port {info.get('port')}")


def _on_demo(action: str, help_text: str) -> click.Command:
    @click.argument("name")
    @with_config
    @_plainly
    def command(config: Config, name: str) -> None:
        demo = _showroom(config).demo(name)
        getattr(demo, action)()
        click.echo(f"{name}: {demo.status()}")

    command.__doc__ = help_text
    return showroom_group.command(action)(command)


_on_demo("start", "Start a demo: its process, then its vhost.")
_on_demo("stop", "Stop a demo.")


@showroom_group.command("status")
@click.argument("name")
@with_config
@_plainly
def status_command(config: Config, name: str) -> None:
    """A demo's status (DESTROYED when there is none), and why Apache refused its vhost."""
    info = _showroom(config).demo(name).info()
    if info is None:
        click.echo("DESTROYED")
        return
    click.echo(info["status"])
    if info["apache_error"]:
        click.echo(f"Apache refused its vhost: {info['apache_error']}")


@showroom_group.command("destroy")
@click.argument("name")
@with_config
@_plainly
def destroy_command(config: Config, name: str) -> None:
    """Stop a demo and remove it; its port is free again."""
    _showroom(config).demo(name).destroy()
    click.echo(f"{name}: destroyed")


@showroom_group.command("logs")
@click.argument("name")
@with_config
@_plainly
def logs_command(config: Config, name: str) -> None:
    """The end of a demo's deploy log and of its output."""
    logs = _showroom(config).demo(name).logs()
    click.echo(f"--- deploy ---\n{logs['deploy']}".rstrip())
    click.echo(f"--- output ---\n{logs['output']}".rstrip())


@showroom_group.command("generate")
@with_config
def generate_command(config: Config) -> None:
    """Print the showroom supervisord's configuration (a Pi's role writes it, as root)."""
    from appliance.showroom import supervisord

    click.echo(supervisord.render_configuration(config), nl=False)


@showroom_group.command("supervisord")
@with_config
def supervisord_command(config: Config) -> None:
    """Run the showroom's supervisord in the foreground (the stack runs this)."""
    from appliance import stack
    from appliance.showroom import apache, supervisord

    try:
        conf = supervisord.write_configuration(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if os.geteuid() == 0 and supervisord.switched_user(config) is None:
        click.echo("warning: [showroom] user is unset: the demos and Apache run as root", err=True)
    command = stack.supervisord_command(conf)
    click.echo(f"showroom: supervisord with {conf}", err=True)
    sys.stdout.flush()
    # supervisord takes this process's place, with none of its environment (secrets may be in it).
    os.execvpe(command[0], command, apache.SYSTEM_ENVIRONMENT)  # noqa: S606
