"""The image build's parts that run without root or emulation: its refusals, its stages, and its
disk made from trees (real mkfs.vfat, mcopy, mke2fs and sfdisk) read back."""

from __future__ import annotations

import io
import subprocess

import pytest
from click.testing import CliRunner

from appliance.cli import main
from appliance.image import disk
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


def test_an_image_made_from_trees_reads_back(tmp_path):
    boot, root = tmp_path / "boot", tmp_path / "root"
    (boot / "overlays").mkdir(parents=True)
    (boot / "config.txt").write_text("arm_64bit=1\n")
    (boot / "overlays" / "a.dtbo").write_bytes(b"\xd0\x0d\xfe\xed")
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("appliance\n")
    (root / "etc" / "secret").write_text("x")
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
