"""``appliance image ...``: the prepared SD card image: its build, and its first boot on the Pi."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from appliance.image.firstboot import CONFIG_FILE, FirstBoot


@click.group("image")
def image_group() -> None:
    """The prepared SD card image: build it, and apply its first-boot file on the Pi."""


@image_group.command("build")
@click.option(
    "--base",
    type=click.Choice(["debian", "raspios"]),
    default="debian",
    show_default=True,
    help="debian: built from Debian's packages. raspios: the Raspberry Pi OS Lite image given as "
    "--base-image, customised in place.",
)
@click.option(
    "--base-image",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --base raspios: Raspberry Pi OS Lite (64-bit), the .img.xz as downloaded or the .img.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("build/image"),
    show_default=True,
    help="Where the image (.img.xz), its .sha256 and the build log go.",
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("/var/tmp"),  # noqa: S108 (a directory of its own is made in it)
    show_default=True,
    help="Where the root tree is made (about 2 GB), removed afterwards.",
)
@click.option(
    "--mirror",
    default="http://deb.debian.org/debian",
    show_default=True,
    help="Debian archive (--base debian; Raspberry Pi OS keeps its own sources).",
)
@click.option("--keep-work", is_flag=True, help="Keep the work directory (the root tree), to look into it.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "appliance" / "image",
    show_default="~/.cache/appliance/image",
    help="Where debootstrap's tree is kept for the next build (it is updated then).",
)
@click.option("--no-cache", is_flag=True, help="Neither use nor fill the cache.")
def build_command(
    base: str,
    base_image: Path | None,
    output_dir: Path,
    work_dir: Path,
    mirror: str,
    keep_work: bool,
    cache_dir: Path,
    no_cache: bool,
) -> None:
    """Build an arm64 Raspberry Pi SD card image provisioned by ansible/site.yml, from Debian's
    packages or from a Raspberry Pi OS Lite image. Runs as root, on an x86_64 (or arm64) Debian
    machine, from the project's checkout; `make image` installs what it needs."""
    from appliance.image import build

    if (base == "raspios") != (base_image is not None):
        raise click.UsageError("--base-image FILE goes with --base raspios, and only with it")
    if base_image is not None:
        if not base_image.is_file():
            raise click.BadParameter(f"{base_image}: no such file", param_hint="--base-image")
        if not base_image.name.endswith((".img", ".img.xz")):
            raise click.BadParameter(
                f"{base_image.name}: expected Raspberry Pi OS's .img.xz (or the .img in it)",
                param_hint="--base-image",
            )
    if os.geteuid() != 0:
        raise click.ClickException(
            "appliance image build runs as root (debootstrap, chroot, mounts in a namespace of its "
            "own): run it with sudo, or `sudo make image`"
        )
    source = build.find_checkout(Path.cwd())
    if source is None:
        raise click.ClickException(
            "run it in the project's checkout: it needs ansible/site.yml and scripts/wheelhouse"
        )
    missing = build.missing_host_tools()
    if missing:
        raise click.ClickException(
            f"missing on this machine: {', '.join(missing)}; `make image` installs them"
        )
    if os.environ.get(build.NAMESPACE_ENV) != "1":
        sys.exit(build.run_in_namespace([sys.executable, "-m", "appliance", *sys.argv[1:]]))
    options = build.BuildOptions(
        source=source,
        output_dir=output_dir.resolve(),
        work_dir=work_dir.resolve(),
        mirror=mirror,
        keep_work=keep_work,
        cache_dir=None if no_cache else cache_dir.resolve(),
        base_image=None if base_image is None else base_image.resolve(),
    )
    try:
        result = build.build(options)
    except build.StageFailed as exc:
        raise click.ClickException(f"the image was not built: {exc}") from None
    except KeyboardInterrupt:
        click.echo("interrupted: the image was not built; nothing is left mounted or running", err=True)
        sys.exit(130)
    click.echo(result.image)
    click.echo(result.checksum)
    click.echo(result.log)


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
