"""``appliance image``: the SD card image's own commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from appliance.image.firstboot import CONFIG_FILE, FirstBoot


@click.group("image")
def image_group() -> None:
    """The prepared SD card image."""


@image_group.command("firstboot")
@click.option(
    "--boot-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/boot/firmware"),
    show_default=True,
    help="The boot partition, where the user's appliance.toml is.",
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=Path("/"),
    show_default=True,
    help="The system to set up; another than / is not grown to the card.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=CONFIG_FILE,
    show_default=True,
    help="The appliance's configuration that the file's other tables are merged into (under --root).",
)
def firstboot_command(boot_dir: Path, root: Path, config_file: Path) -> None:
    """Grow the root filesystem, make the SSH host keys, apply <boot-dir>/appliance.toml.

    Exit 0 when there was nothing to do or all was applied, 1 when the file is invalid (nothing
    changed) or could not be applied, or the host keys could not be made.
    """
    root = root.resolve()
    first_boot = FirstBoot(
        root=root,
        boot_dir=boot_dir,
        say=click.echo,
        grow_partition=root == Path("/"),
        config_file=Path("/", config_file),
    )
    if not first_boot.start():
        sys.exit(1)
