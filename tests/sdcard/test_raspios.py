"""The raspios base: an image shaped as Raspberry Pi OS Lite (``raspios_shaped.py``: made from the
Debian image, as no Raspberry Pi OS image can be downloaded here) customised in place by the
whole play, then read back: what was the user's is kept as it was, the appliance is added."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest

from appliance.image import disk
from tests.sdcard.raspios_shaped import RPI_ISSUE, make_raspios_shaped
from tests.sdcard.test_build_faults import assert_nothing_left, start_build

pytestmark = [pytest.mark.slow, pytest.mark.customise]


@pytest.fixture(scope="module")
def customised(raw_image, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("raspios")
    shaped = make_raspios_shaped(raw_image, tmp_path / "raspios-lite.img")
    process = start_build(tmp_path, "--base", "raspios", "--base-image", shaped)
    out, err = process.communicate(timeout=3600)
    assert process.returncode == 0, err
    assert_nothing_left(tmp_path)
    image_xz, checksum, log = (line for line in out.splitlines() if line)
    raw = tmp_path / "customised.img"
    with raw.open("wb") as f:
        subprocess.run(["xz", "--decompress", "--stdout", "--threads=0", image_xz], stdout=f, check=True)
    return shaped, raw, image_xz, checksum, log, err


def test_the_build_names_the_image_for_its_base_and_shows_its_stages(customised):
    _shaped, _raw, image_xz, checksum, log, err = customised
    assert re.fullmatch(r".*/appliance-[^/]+-raspios\.img\.xz", image_xz)
    assert log.endswith("-raspios.build.log")
    stages = ["host", "unpack", "wheelhouse", "provision", "finish", "disk", "compress"]
    for number, stage in enumerate(stages, start=1):
        assert f"[{number}/7]" in err and f"{stage}: " in err
    digest = hashlib.sha256(Path(image_xz).read_bytes()).hexdigest()
    assert Path(checksum).read_text().split() == [digest, Path(image_xz).name]


def test_the_partitions_keep_their_places_names_and_ids_and_the_root_grows(customised):
    shaped, raw, *_ = customised
    (boot_before, root_before), (boot_after, root_after) = disk.partitions(shaped), disk.partitions(raw)
    # PARTUUID=<disk id>-02 in cmdline.txt and the fstab must still find them.
    assert disk.disk_id(raw) == disk.disk_id(shaped)
    assert boot_after == boot_before
    assert root_after.start == root_before.start
    assert root_after.size == root_before.size + 1024 * disk.MIB
    for before, after in ((boot_before, boot_after), (root_before, root_after)):
        identity_before = disk.filesystem_identity(shaped, before)
        identity_after = disk.filesystem_identity(raw, after)
        assert (identity_after["LABEL"], identity_after["UUID"]) == (
            identity_before["LABEL"],
            identity_before["UUID"],
        )
    check = subprocess.run(["e2fsck", "-f", "-n", f"{raw}?offset={root_after.start}"], capture_output=True)
    assert check.returncode == 0, check.stdout


def test_the_users_boot_files_are_kept_and_config_txt_gains_the_overlay(customised):
    shaped, raw, *_ = customised
    assert disk.read_boot_file(raw, "cmdline.txt") == disk.read_boot_file(shaped, "cmdline.txt")
    before = disk.read_boot_file(shaped, "config.txt").decode().splitlines()
    after = disk.read_boot_file(raw, "config.txt").decode().splitlines()
    assert [line for line in after if line in before] == before
    overlay = "dtoverlay=gpio-ir-tx,gpio_pin=17"
    assert overlay in after
    sections = [line for line in after[: after.index(overlay)] if line.startswith("[")]
    assert sections[-1] == "[all]"
    assert set(disk.boot_names(shaped)) <= set(disk.boot_names(raw))
    assert "appliance.toml.example" in disk.boot_names(raw)


def test_the_appliance_is_installed_for_the_first_boot_and_nothing_is_each_pis(customised):
    _shaped, raw, *_ = customised
    assert disk.read_root_file(raw, "/etc/rpi-issue") == RPI_ISSUE.encode()
    wanted = disk.root_names(raw, "/etc/systemd/system/multi-user.target.wants")
    assert {"appliance-firstboot.service", "supervisor.service", "lircd.service"} <= set(wanted)
    assert not [n for n in disk.root_names(raw, "/etc/ssh") if n.startswith("ssh_host_")]
    assert disk.read_root_file(raw, "/etc/machine-id") == b""
    assert disk.read_root_file(raw, "/run/reboot-required") is None
    assert disk.root_entry(raw, "/opt/appliance/venv/bin/appliance") is not None
