"""``appliance runner``, ``appliance observer`` and ``appliance ci ...``: the CI's programs and
chores. Every one of them talks to the server over HTTP with its own role's token from the config
(never from the command line, where any user could read it): the runner the runner token, the
observer the observer token, ``appliance ci`` the admin's."""

from __future__ import annotations

import logging
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import click

from appliance.auth import ROLES, configured_token, role_token, token_file
from appliance.ci.environment import secret_reference
from appliance.commandline import setup_logging, with_config
from appliance.config import Config
from appliance.files import private_directory
from appliance.schema import ConfigError, Secret, safe_name, secrets_in

SERVER_HELP = "URL of the server (default: this machine's, from [server] in the config)."


def server_client(config: Config, server_url: str | None, role: str, *, token_optional: bool = False):
    """A client of the server (``--server``, else the config's) with ``role``'s token from the
    config; a URL that is not http(s) is a usage error on ``--server`` (exit 2). Shared by every
    command that talks to the server (``appliance progress simulate`` too).

    With ``token_optional`` a token that cannot be read here is none (the server may take the
    calls anonymously) and none is generated: only the server's own machine has the token files.
    """
    from appliance.client import Client

    token = _readable_token(config, role) if token_optional else role_token(config, role)
    try:
        return Client(server_url or config.server_url, token)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--server") from None


def _readable_token(config: Config, role: str) -> str | None:
    configured = configured_token(config, role)
    try:
        if configured is not None:
            return configured.reveal()
        return token_file(config, role).read_text(encoding="utf-8").strip() or None
    except (ConfigError, OSError, UnicodeDecodeError):
        return None


def _readable_secrets(config: Config) -> list[str]:
    """The secrets the runner masks in build logs besides its own token: the values of the
    configuration's secret references (the repositories' `env` ones too) and of the tokens
    generated in the data directory, those that can be read here; one that cannot be read here
    cannot be read by a build either."""
    references = [secret for _key, secret in secrets_in(config, "")]
    references += [Secret(f"file:{token_file(config, role)}") for role in ROLES]
    references += [
        reference
        for repo in config.ci.repos
        for value in repo.env.values()
        if (reference := secret_reference(value)) is not None
    ]
    values = []
    for reference in references:
        try:
            values.append(reference.reveal())
        except ConfigError:
            continue
    return values


def _build_user(config: Config, runner_name: str):
    """``[ci] build_user`` and the directory its builds run in: ``<its home>/runners/<name>``."""
    import pwd

    from appliance.ci.build_user import BuildUser

    if not config.ci.build_user:
        return None, None
    try:
        home = Path(pwd.getpwnam(config.ci.build_user).pw_dir)
    except KeyError:
        raise click.ClickException(f"[ci] build_user {config.ci.build_user!r}: no such user") from None
    return BuildUser(config.ci.build_user), home / "runners" / runner_name


def _on_stop_signals(stop: Callable[[], None]) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop())


def _check_name(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    problem = safe_name(value)
    if problem:
        raise click.BadParameter(f"{value!r} {problem}")
    return value


@click.command("runner")
@click.option("--server", "server_url", help=SERVER_HELP)
@click.option(
    "--name",
    default=lambda: socket.gethostname().split(".")[0],
    callback=_check_name,
    help="This runner's name, unique among the server's runners (default: the host name).",
)
@click.option("--capacity", type=click.IntRange(1, 64), default=1, show_default=True, help="Builds at once.")
@click.option("--label", "labels", multiple=True, help="A label shown with the runner (repeatable).")
@with_config
def runner_command(
    config: Config, server_url: str | None, name: str, capacity: int, labels: tuple[str, ...]
) -> None:
    """Pull builds from the server and run them in clean checkouts."""
    from appliance.ci.runner import Runner

    setup_logging()
    client = server_client(config, server_url, "runner")
    work_dir = private_directory(config.data_dir, "ci", "runners", name)
    build_user, build_root = _build_user(config, name)
    logging.getLogger(__name__).info(
        "runner %s for %s, working in %s, builds as %s",
        name,
        client.base_url,
        work_dir,
        build_user.name if build_user else "this user",
    )
    runner = Runner(
        client,
        name,
        work_dir,
        capacity,
        labels,
        secrets=_readable_secrets(config),
        build_user=build_user,
        build_root=build_root,
    )
    _on_stop_signals(runner.stop_event.set)
    runner.run()


@click.command("observer")
@click.option("--server", "server_url", help=SERVER_HELP)
@with_config
def observer_command(config: Config, server_url: str | None) -> None:
    """Watch the repositories of [[ci.repos]] and queue a build for every new commit."""
    from appliance.ci.observer import Observer

    setup_logging()
    if not config.ci.repos:
        raise click.ClickException(f"{config.source}: no [[ci.repos]] to watch")
    directory = private_directory(config.data_dir, "ci", "observer")
    client = server_client(config, server_url, "observer")
    observer = Observer(config.ci.repos, directory, client, config.ci.commits_per_poll)
    _on_stop_signals(observer.stop)
    observer.run()


@click.group("ci")
def ci_group() -> None:
    """Look at and steer the CI's builds on the server."""


def _answer(answer) -> dict:
    if answer.status >= 400:
        raise click.ClickException(answer.error)
    return answer.body


def _call(config: Config, server_url: str | None, method: str, path: str, body: object = None) -> dict:
    from appliance.client import ServerUnavailable

    try:
        return _answer(server_client(config, server_url, "admin").call(method, path, body))
    except ServerUnavailable as exc:
        raise click.ClickException(f"{exc}; is `appliance server` running?") from None


def _line(build: dict) -> str:
    duration = f"{build['duration_seconds']:.1f}s" if build["duration_seconds"] is not None else "-"
    message = build["message"].splitlines()[0][:50] if build["message"] else ""
    return (
        f"{build['id']:>6} {build['repo']:<16} {build['short_commit']} {build['status']:<10} "
        f"{duration:>8} {build['runner'] or '-':<12} #{build['attempt']} {message}"
    )


@ci_group.command("builds")
@click.option("--server", "server_url", help=SERVER_HELP)
@click.option("--repo", help="Only this repository's builds.")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@with_config
def builds_command(config: Config, server_url: str | None, repo: str | None, limit: int) -> None:
    """List the latest builds, newest first."""
    from urllib.parse import urlencode

    query = urlencode({"limit": limit, **({"repo": repo} if repo else {})})
    for build in _call(config, server_url, "GET", f"/api/ci/builds?{query}")["builds"]:
        click.echo(_line(build))


@ci_group.command("rebuild")
@click.argument("commit")
@click.option("--server", "server_url", help=SERVER_HELP)
@click.option("--repo", help="The repository, when the commit prefix is in several.")
@with_config
def rebuild_command(config: Config, commit: str, server_url: str | None, repo: str | None) -> None:
    """Queue a new build of COMMIT (a commit id or a unique prefix of it)."""
    body = {"commit": commit, **({"repo": repo} if repo else {})}
    click.echo(_line(_call(config, server_url, "POST", "/api/ci/rebuild", body)))


@ci_group.command("cancel")
@click.argument("build", type=click.IntRange(1))
@click.option("--server", "server_url", help=SERVER_HELP)
@with_config
def cancel_command(config: Config, build: int, server_url: str | None) -> None:
    """Cancel BUILD (a build number): taken off the queue, or stopped on its runner."""
    click.echo(_line(_call(config, server_url, "POST", f"/api/ci/builds/{build}/cancel")))
