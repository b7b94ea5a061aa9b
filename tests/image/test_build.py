"""The image build's parts that run without root or emulation: its refusals, its stages, and its
disk made from trees (real mkfs.vfat, mcopy, mke2fs and sfdisk) read back."""

from __future__ import annotations

import io
import re
import subprocess

import pytest
from click.testing import CliRunner

from appliance.cli import main
from appliance.image import disk, raspios
from appliance.image.stages import StageFailed, Stages


def test_a_build_as_another_user_than_root_stops_at_once(monkeypatch, tmp_path):
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    result = CliRunner().invoke(main, ["image", "build", "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "runs as root" in result.output and "sudo" in result.output
    assert not (tmp_path / "out").exists()


def test_a_build_outside_the_checkout_says_where_to_run_it(monkeypatch, tmp_path):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr("appliance.image.build.find_checkout", lambda start: None)
    result = CliRunner().invoke(main, ["image", "build", "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "ansible/site.yml" in result.output


def test_a_build_names_the_tools_it_misses(monkeypatch, tmp_path):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    monkeypatch.setattr("shutil.which", lambda tool: None if tool == "mcopy" else f"/usr/bin/{tool}")
    result = CliRunner().invoke(main, ["image", "build", "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert "mcopy (mtools)" in result.output and "make image" in result.output


def test_stages_time_each_stage_and_a_failure_shows_only_its_own_log(tmp_path):
    terminal = io.StringIO()
    stages = Stages(tmp_path / "build.log", 2, terminal)
    with stages.stage("first", "The first stage"):
        stages.run(["sh", "-c", "echo output of the first stage"])
    with pytest.raises(StageFailed) as failed:
        with stages.stage("second", "The second stage"):
            stages.run(["sh", "-c", "echo the reason it failed; exit 3"])
    stages.close()
    shown = terminal.getvalue()
    assert "[1/2] The first stage" in shown and "first: 0 s" in shown
    assert "FAILED: stage second" in shown and "exited with status 3" in shown
    assert "| the reason it failed" in shown
    assert "output of the first stage" not in shown  # in the log, not on the terminal
    assert "output of the first stage" in (tmp_path / "build.log").read_text()
    assert failed.value.stage == "second"
    assert [t.name for t in stages.times] == ["first"]


def small_trees(tmp_path, config_txt: str, root_files: dict[str, str]):
    """A boot tree (config.txt, an overlay) and a root tree of ``/etc`` files, for an image."""
    boot, root = tmp_path / "boot", tmp_path / "root"
    (boot / "overlays").mkdir(parents=True)
    (boot / "config.txt").write_text(config_txt)
    (boot / "overlays" / "a.dtbo").write_bytes(b"\xd0\x0d\xfe\xed")
    (root / "etc").mkdir(parents=True)
    for name, text in root_files.items():
        (root / "etc" / name).write_text(text)
    return boot, root


def test_an_image_made_from_trees_reads_back(tmp_path):
    boot, root = small_trees(tmp_path, "arm_64bit=1\n", {"hostname": "appliance\n", "secret": "x"})
    (root / "etc" / "secret").chmod(0o600)
    image = tmp_path / "card.img"
    stages = Stages(tmp_path / "build.log", 1, io.StringIO())
    layout = disk.make_image(stages, boot, root, image, tmp_path, seed="test")
    stages.close()

    boot_part, root_part = disk.partitions(image)
    assert (boot_part.start, boot_part.size, boot_part.type) == (disk.BOOT_START, disk.BOOT_SIZE, "c")
    assert (root_part.start, root_part.type) == (layout.root_start, "83")
    assert image.stat().st_size == layout.total
    assert disk.boot_names(image) == ["config.txt", "overlays"]
    assert disk.boot_names(image, "overlays") == ["a.dtbo"]
    assert disk.read_boot_file(image, "config.txt") == b"arm_64bit=1\n"
    disk.write_boot_file(image, "appliance.toml", b'[pi]\nhostname = "x"\n')
    assert disk.read_boot_file(image, "appliance.toml") == b'[pi]\nhostname = "x"\n'
    assert disk.read_root_file(image, "/etc/hostname") == b"appliance\n"
    assert disk.read_root_file(image, "/etc/nothing") is None
    assert disk.root_names(image, "/etc") == ["hostname", "secret"]
    entry = disk.root_entry(image, "/etc/secret")
    assert entry["Mode"] == "0600" and entry["User"] == "0"
    blkid = ["blkid", "-p", "-O", str(root_part.start), "-s", "LABEL", "-o", "value", str(image)]
    label = subprocess.run(blkid, capture_output=True, text=True)
    assert label.stdout.strip() == disk.ROOT_LABEL


def test_the_same_seed_gives_the_same_identifiers():
    assert disk.identifiers("0.1.0 debian") == disk.identifiers("0.1.0 debian")
    assert disk.identifiers("0.1.0 debian") != disk.identifiers("0.1.1 debian")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--base", "raspios"], "--base-image FILE goes with --base raspios"),
        (["--base-image", "x.img.xz"], "--base-image FILE goes with --base raspios"),
        (["--base", "raspios", "--base-image", "missing.img.xz"], "no such file"),
        (["--base", "raspios", "--base-image", "{tmp}/os.zip"], "expected Raspberry Pi OS's .img.xz"),
    ],
)
def test_the_raspios_base_is_asked_for_with_its_image(monkeypatch, tmp_path, arguments, message):
    monkeypatch.setattr("os.geteuid", lambda: 0)
    (tmp_path / "os.zip").write_bytes(b"PK")
    arguments = [a.replace("{tmp}", str(tmp_path)) for a in arguments]
    result = CliRunner().invoke(main, ["image", "build", "--output-dir", str(tmp_path / "out"), *arguments])
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "out").exists()


def test_a_file_without_two_partitions_is_not_taken_for_raspberry_pi_os(tmp_path):
    blank = tmp_path / "blank.img"
    blank.write_bytes(b"\0" * 1024 * 1024)
    with pytest.raises(ValueError, match=r"not an SD card image|partitions of types"):
        raspios.checked_partitions(blank)


def raspios_root(
    tmp_path, *, issue=True, arch="aarch64-linux-gnu", fstab="/boot/firmware", pythons=("3.11",)
):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "usr" / "lib" / arch).mkdir(parents=True)
    if issue:
        (root / "etc" / "rpi-issue").write_text("Raspberry Pi reference\n")
    (root / "etc" / "fstab").write_text(f"PARTUUID=0-01  {fstab}  vfat  defaults  0  2\n")
    for version in pythons:
        (root / "usr" / "lib" / f"python{version}").mkdir()
        (root / "usr" / "lib" / f"python{version}" / "os.py").write_text("")
    return root


def test_a_raspberry_pi_os_root_gives_its_newest_python(tmp_path):
    assert raspios.checked_root(raspios_root(tmp_path, pythons=("3.9", "3.13", "3.11"))) == "3.13"


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ({"issue": False}, "not Raspberry Pi OS: it has no /etc/rpi-issue"),
        ({"arch": "arm-linux-gnueabihf"}, "not 64-bit"),
        ({"fstab": "/boot"}, "older than Bookworm"),
        ({"pythons": ()}, "no Python 3"),
    ],
)
def test_a_root_that_is_not_64_bit_raspberry_pi_os_of_bookworm_or_later_is_refused(tmp_path, shape, message):
    with pytest.raises(ValueError, match=message):
        raspios.checked_root(raspios_root(tmp_path, **shape))


def test_a_raspios_image_is_grown_and_its_partitions_put_back_as_they_were(tmp_path):
    """The raspios base's disk steps on a small image: the root copied out, grown, put back at the
    same place; the boot files copied out and written back into a FAT of the same label and id."""
    boot, root = small_trees(tmp_path, "[all]\narm_64bit=1\n", {"rpi-issue": "Raspberry Pi reference\n"})
    image = tmp_path / "card.img"
    stages = Stages(tmp_path / "build.log", 1, io.StringIO())
    disk.make_image(stages, boot, root, image, tmp_path, seed="raspios test")
    first, second = disk.partitions(image)
    identity_before = disk.filesystem_identity(image, first)
    root_before = disk.filesystem_identity(image, second)
    disk_id = disk.disk_id(image)

    root_fs = tmp_path / "root.ext4"
    disk.copy_out(stages, image, second, root_fs)
    grown = disk.grow_last_partition(stages, image, 64 * disk.MIB)
    disk.grow_ext4(stages, root_fs, grown.size)
    copied = tmp_path / "copied"
    disk.extract_boot_files(stages, image, copied)
    (copied / "config.txt").write_text("[all]\narm_64bit=1\ndtoverlay=gpio-ir-tx,gpio_pin=17\n")
    label, volume_id = identity_before["LABEL"], identity_before["UUID"].replace("-", "")
    disk.make_boot_filesystem(stages, copied, tmp_path / "boot.vfat", first.size, label, volume_id)
    disk.place(stages, tmp_path / "boot.vfat", image, first.start)
    disk.place(stages, root_fs, image, grown.start)
    stages.close()

    assert disk.disk_id(image) == disk_id
    assert disk.partitions(image)[0] == first
    assert (grown.start, grown.size) == (second.start, second.size + 64 * disk.MIB)
    assert image.stat().st_size == grown.start + grown.size
    assert disk.filesystem_identity(image, first)["UUID"] == identity_before["UUID"]
    assert disk.filesystem_identity(image, first)["LABEL"] == identity_before["LABEL"]
    assert disk.filesystem_identity(image, grown)["UUID"] == root_before["UUID"]
    assert disk.boot_names(image, "overlays") == ["a.dtbo"]
    assert disk.read_boot_file(image, "config.txt").endswith(b"dtoverlay=gpio-ir-tx,gpio_pin=17\n")
    assert disk.read_root_file(image, "/etc/rpi-issue") == b"Raspberry Pi reference\n"
    superblock = subprocess.run(
        ["dumpe2fs", "-h", f"{image}?offset={grown.start}"], capture_output=True, text=True, check=True
    ).stdout
    fields = dict(re.findall(r"^(Block count|Block size):\s+(\d+)$", superblock, re.M))
    assert int(fields["Block count"]) * int(fields["Block size"]) == grown.size
    check = subprocess.run(["e2fsck", "-f", "-n", f"{image}?offset={grown.start}"], capture_output=True)
    assert check.returncode == 0, check.stdout
