"""The SD card image that `make image` built, given as ``--image``, decompressed once."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def image_xz(pytestconfig) -> Path:
    path = pytestconfig.getoption("--image")
    if not path.is_file():
        pytest.fail(f"--image {path}: no such file (make image builds one)")
    return path


@pytest.fixture(scope="session")
def raw_image(image_xz, tmp_path_factory) -> Path:
    """The image as flashed, read only by the static checks."""
    raw = tmp_path_factory.mktemp("image") / image_xz.name.removesuffix(".xz")
    with raw.open("wb") as out:
        subprocess.run(
            ["xz", "--decompress", "--stdout", "--threads=0", str(image_xz)], stdout=out, check=True
        )
    return raw


@pytest.fixture
def card(raw_image, tmp_path) -> Path:
    """A copy of the image to boot and change, on a 3 GiB card (the first boot grows the root)."""
    path = tmp_path / "card.img"
    subprocess.run(["cp", "--sparse=always", str(raw_image), str(path)], check=True)
    with path.open("r+b") as f:
        f.truncate(3 * 1024**3)
    return path


def require_tools(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing tools {missing}: `make image-check` installs them")
