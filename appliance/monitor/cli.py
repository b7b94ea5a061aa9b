"""``appliance monitor``: poll the status sources, drive the lamp, report to the server.

The seed's flags still work, without a config file: ``--octopus-url URL
--octopus-project Projects-1 --octopus-environment Environments-1 --frequency 5``, the API key
from ``$OCTOPUS_API_KEY`` or ``--octopus-api-key-file``, never from the command line (where
every user of the machine could read it).
"""

from __future__ import annotations

import dataclasses
import signal
import threading
from pathlib import Path

import click

from appliance.commandline import setup_logging, with_config
from appliance.config import Config, ConfigError, Secret
from appliance.monitor.settings import OctopusSourceConfig
from appliance.validation import validate

API_KEY_VARIABLE = "OCTOPUS_API_KEY"


@click.command("monitor")
@click.option("--octopus-url", metavar="URL", help="Watch this Octopus server (the seed's -url).")
@click.option("--octopus-space", metavar="SPACE", default="", help="Its space id, e.g. Spaces-1.")
@click.option("--octopus-project", metavar="ID", help="Project id, e.g. Projects-1 (the seed's -project).")
@click.option("--octopus-environment", metavar="ID", help="Environment id (the seed's -environment).")
@click.option(
    "--octopus-api-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"File holding the API key; else ${API_KEY_VARIABLE}.",
)
@click.option(
    "--frequency",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds between two reads of that Octopus server (the seed's -frequency; default 30).",
)
@with_config
def monitor_command(
    config: Config,
    octopus_url: str | None,
    octopus_space: str,
    octopus_project: str | None,
    octopus_environment: str | None,
    octopus_api_key_file: Path | None,
    frequency: float | None,
) -> None:
    """Poll the status sources of [monitor], show the worst state on the lamp, report to the server."""
    if octopus_url:
        seed_source = _seed_source(
            octopus_url, octopus_space, octopus_project, octopus_environment, octopus_api_key_file, frequency
        )
        config = config.replace(
            monitor=dataclasses.replace(config.monitor, octopus=[*config.monitor.octopus, seed_source])
        )
        # The same checks as loading, now that the flags add a source: its name may be taken.
        problems = validate(config)
        if problems:
            raise click.UsageError("\n".join(f"{config.source} with --octopus-url: {p}" for p in problems))
    elif octopus_project or octopus_environment or octopus_api_key_file or frequency or octopus_space:
        raise click.UsageError("the --octopus-* options and --frequency need --octopus-url")
    setup_logging()
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGTERM, signal.SIGINT)
    }

    from appliance.monitor.program import run

    try:
        run(config, stop)
    except ConfigError as exc:
        raise click.ClickException(f"{config.source}: {exc}") from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _seed_source(
    url: str,
    space: str,
    project: str | None,
    environment: str | None,
    key_file: Path | None,
    frequency: float | None,
) -> OctopusSourceConfig:
    if not project or not environment:
        raise click.UsageError("--octopus-url needs --octopus-project and --octopus-environment")
    api_key = Secret(f"file:{key_file.resolve()}" if key_file else f"env:{API_KEY_VARIABLE}")
    try:
        api_key.reveal()
    except ConfigError as exc:
        raise click.UsageError(f"no Octopus API key: {exc} (or give --octopus-api-key-file)") from None
    return OctopusSourceConfig(
        url=url,
        space=space,
        project=project,
        environment=environment,
        api_key=api_key,
        interval=frequency or OctopusSourceConfig.interval,
    )
