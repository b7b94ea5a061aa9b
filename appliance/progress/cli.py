"""``appliance progress ...``: system-test progress from the command line. ``simulate`` runs
virtual test machines against a server, for demos and load; it needs no library of the
``server`` extra (``appliance.progress.simulator`` is the standard library only)."""

from __future__ import annotations

import random
import signal
import threading

import click

from appliance.ci.cli import SERVER_HELP, server_client
from appliance.commandline import with_config
from appliance.config import Config
from appliance.progress.simulator import MAX_MACHINES, MAX_TEST_SECONDS, OUTCOMES

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@click.group("progress")
def progress_group() -> None:
    """System-test progress: virtual test machines for demos and load."""


def _seconds_range(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[float, float]:
    low, comma, high = value.partition(",")
    try:
        bounds = (float(low), float(high if comma else low))
    except ValueError:
        raise click.BadParameter(f"expected MIN,MAX in seconds (like 1,5), got {value!r}") from None
    if not 0 <= bounds[0] <= bounds[1] <= MAX_TEST_SECONDS:  # NaN fails this too
        raise click.BadParameter(f"expected 0 <= MIN <= MAX <= {MAX_TEST_SECONDS:g}, got {value!r}")
    return bounds


def _check_server(client) -> None:
    """Before any machine starts: the server answers, and is an appliance's; else a usage error
    on ``--server`` (exit 2), not a machine per thread failing with a traceback."""
    from appliance.client import ServerUnavailable

    try:
        answer = client.call("GET", "/healthz", timeout=10)
    except (ServerUnavailable, ValueError) as exc:  # ValueError: a URL urllib cannot use (port 99999)
        raise click.BadParameter(
            f"{exc}; is `appliance server` running there?", param_hint="--server"
        ) from None
    if answer.status != 200 or not isinstance(answer.body, dict) or not answer.body.get("ok"):
        raise click.BadParameter(
            f"{client.base_url} is not an appliance server: /healthz answered HTTP {answer.status}",
            param_hint="--server",
        )


@progress_group.command("simulate")
@click.option("--server", "server_url", help=SERVER_HELP)
@click.option(
    "--machines",
    type=click.IntRange(1, MAX_MACHINES),
    default=3,
    show_default=True,
    help="Test machines at once.",
)
@click.option(
    "--seed", type=int, help="Makes the whole simulation reproducible (default: a random one, printed)."
)
@click.option("--runs", type=click.IntRange(1), default=1, show_default=True, help="Runs of each machine.")
@click.option("--forever", is_flag=True, help="Run until Ctrl-C or SIGTERM, instead of --runs.")
@click.option(
    "--test-seconds",
    default="1,5",
    show_default=True,
    metavar="MIN,MAX",
    callback=_seconds_range,
    help="Each test's duration, drawn between MIN and MAX seconds (one number: exactly that).",
)
@click.option(
    "--outcome",
    type=click.Choice(OUTCOMES),
    help="Every test ends so (default: drawn, mostly passed, some failed, error or warning).",
)
@click.option(
    "--prefix",
    default="virtual machine",
    show_default=True,
    help="Machines are named PREFIX #1, PREFIX #2...",
)
@with_config
@click.pass_context
def simulate_command(
    ctx: click.Context,
    config: Config,
    server_url: str | None,
    machines: int,
    seed: int | None,
    runs: int,
    forever: bool,
    test_seconds: tuple[float, float],
    outcome: str | None,
    prefix: str,
) -> None:
    """Virtual test machines: each posts a dry run, then starts and stops each of its tests."""
    from appliance.progress.simulator import Settings, Simulation

    if forever and ctx.get_parameter_source("runs") is not click.core.ParameterSource.DEFAULT:
        raise click.UsageError("--runs and --forever exclude each other")
    if not prefix.strip() or len(prefix) > 200:
        raise click.BadParameter("must be 1 to 200 characters, not only spaces", param_hint="--prefix")
    client = server_client(config, server_url, "progress", token_optional=True)
    _check_server(client)
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    settings = Settings(seed=seed, test_seconds=test_seconds, outcome=outcome, prefix=prefix)
    output = threading.Lock()

    def on_run(done) -> None:
        tally = ", ".join(f"{count} {status}" for status, count in sorted(done.counts.items())) or "no test"
        ended = "cancelled after" if done.cancelled else "done:"
        with output:
            click.echo(f"{done.machine_name} run {done.number} (server run {done.run}) {ended} {tally}")

    def on_error(error: str) -> None:
        with output:
            click.echo(f"error: {error}", err=True)

    simulation = Simulation(client, settings, machines, None if forever else runs, on_run, on_error)
    anonymously = "" if client.token else " without a token"
    click.echo(f"{machines} machine(s) reporting to {client.base_url}{anonymously}, seed {seed}", err=True)
    previous = {signum: signal.signal(signum, lambda *_: simulation.stop()) for signum in STOP_SIGNALS}
    try:
        errors = simulation.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if errors:
        raise click.ClickException(f"{len(errors)} of {machines} machine(s) failed; the first: {errors[0]}")
