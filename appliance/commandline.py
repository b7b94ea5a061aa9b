"""What every command of the ``appliance`` CLI shares: ``--config`` and logging.

Apart from ``appliance.cli`` so that each capability's commands (``appliance/<capability>/cli.py``)
can use it and ``appliance.cli`` can import them all at the top.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from appliance import config as config_module
from appliance.config import ConfigError


def setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def with_config(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command ``--config`` and pass it the loaded Config; a bad config ends it with the
    file, the key and the problem, and exit code 1."""

    @click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Configuration file (else $APPLIANCE_CONFIG, else /etc/appliance/appliance.toml).",
    )
    @functools.wraps(command)
    def wrapper(config_file: Path | None, **kwargs: Any) -> Any:
        try:
            config = config_module.load(config_file)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None
        return command(config, **kwargs)

    return wrapper
