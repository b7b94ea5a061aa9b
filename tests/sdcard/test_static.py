"""The image as built, read without booting it: its partitions, its boot files, the IR
transmitter ready for the first boot, the first-boot unit, and nothing that must be each Pi's own."""

from __future__ import annotations

import re
import subprocess

import pytest

from appliance.image import disk
from tests.sdcard.conftest import require_tools

MIB = 1024 * 1024


def config_txt(raw_image) -> list[str]:
    return disk.read_boot_file(raw_image, "config.txt").decode().splitlines()


def kernel_version(raw_image) -> str:
    (version,) = disk.root_names(raw_image, "/lib/modules")
    return version


def test_the_partition_table_is_a_fat_boot_partition_then_the_ext4_root(raw_image):
    table = subprocess.run(
        ["sfdisk", "--dump", str(raw_image)], capture_output=True, text=True, check=True
    ).stdout
    assert "label: dos" in table  # every Pi's firmware reads an MBR
    boot, root = disk.partitions(raw_image)
    assert (boot.start, boot.type) == (4 * MIB, "c")
    assert root.type == "83" and root.start == boot.start + boot.size
    assert raw_image.stat().st_size == root.start + root.size
    blkid = subprocess.run(
        ["blkid", "-p", "-O", str(boot.start), str(raw_image)], capture_output=True, text=True
    )
    assert 'LABEL="RASPIFIRM"' in blkid.stdout and 'TYPE="vfat"' in blkid.stdout
    blkid = subprocess.run(
        ["blkid", "-p", "-O", str(root.start), str(raw_image)], capture_output=True, text=True
    )
    assert 'LABEL="RASPIROOT"' in blkid.stdout and 'TYPE="ext4"' in blkid.stdout


def test_the_boot_partition_boots_the_images_kernel_with_the_root_by_label(raw_image):
    names = disk.boot_names(raw_image)
    lines = config_txt(raw_image)
    assert "arm_64bit=1" in lines
    kernel = next(line.split("=", 1)[1] for line in lines if line.startswith("kernel="))
    initramfs = next(line.split()[1] for line in lines if line.startswith("initramfs "))
    assert kernel in names and initramfs in names
    assert kernel == f"vmlinuz-{kernel_version(raw_image)}"
    for firmware in ("start4.elf", "fixup4.dat", "bcm2711-rpi-4-b.dtb", "bcm2837-rpi-3-b.dtb"):
        assert firmware in names
    cmdline = disk.read_boot_file(raw_image, "cmdline.txt").decode()
    assert re.search(r"(^| )root=LABEL=RASPIROOT( |$)", cmdline.strip())
    fstab = disk.read_root_file(raw_image, "/etc/fstab").decode()
    assert re.search(r"^LABEL=RASPIROOT\s+/\s+ext4", fstab, re.M)
    assert re.search(r"^LABEL=RASPIFIRM\s+/boot/firmware\s+vfat\s+\S*nofail", fstab, re.M)


def test_config_txt_loads_the_ir_transmitters_overlay_for_every_pi(raw_image):
    lines = config_txt(raw_image)
    overlay = [line for line in lines if line.startswith("dtoverlay=gpio-ir-tx")]
    assert overlay == ["dtoverlay=gpio-ir-tx,gpio_pin=17"]
    # under [all] (or no section at all), not under a model's conditional section
    sections = [line for line in lines[: lines.index(overlay[0])] if line.startswith("[")]
    assert not sections or sections[-1] == "[all]"


@pytest.mark.parametrize("dtb", ["bcm2711-rpi-4-b.dtb", "bcm2837-rpi-3-b.dtb", "bcm2837-rpi-zero-2-w.dtb"])
def test_the_overlay_applies_to_the_images_device_trees(raw_image, tmp_path, dtb):
    require_tools("fdtoverlay", "fdtget")
    base, overlay, merged = tmp_path / dtb, tmp_path / "gpio-ir-tx.dtbo", tmp_path / "merged.dtb"
    base.write_bytes(disk.read_boot_file(raw_image, dtb))
    overlay.write_bytes(disk.read_boot_file(raw_image, "overlays/gpio-ir-tx.dtbo"))
    subprocess.run(["fdtoverlay", "-i", base, "-o", merged, overlay], check=True, capture_output=True)
    nodes = subprocess.run(
        ["fdtget", "-l", merged, "/"], capture_output=True, text=True, check=True
    ).stdout.split()
    (node,) = [f"/{name}" for name in nodes if _compatible(merged, f"/{name}") == "gpio-ir-tx"]
    gpios = subprocess.run(
        ["fdtget", "-t", "u", merged, node, "gpios"], capture_output=True, text=True, check=True
    )
    phandle, pin, _flags = (int(v) for v in gpios.stdout.split())
    symbols = subprocess.run(
        ["fdtget", merged, "/__symbols__", "gpio"], capture_output=True, text=True, check=True
    )
    controller = symbols.stdout.strip()
    own = subprocess.run(["fdtget", "-t", "u", merged, controller, "phandle"], capture_output=True, text=True)
    assert (phandle, pin) == (int(own.stdout), 17)


def test_the_gpio_ir_tx_module_is_built_for_the_images_kernel(raw_image, tmp_path):
    require_tools("modinfo")
    version = kernel_version(raw_image)
    module = disk.read_root_file(raw_image, f"/lib/modules/{version}/updates/dkms/gpio-ir-tx.ko")
    assert module is not None, "no gpio-ir-tx.ko for the image's kernel"
    (tmp_path / "gpio-ir-tx.ko").write_bytes(module)
    vermagic = subprocess.run(
        ["modinfo", "-F", "vermagic", tmp_path / "gpio-ir-tx.ko"], capture_output=True, text=True, check=True
    )
    assert vermagic.stdout.split()[0] == version
    aliases = subprocess.run(
        ["modinfo", "-F", "alias", tmp_path / "gpio-ir-tx.ko"], capture_output=True, text=True
    )
    assert "gpio-ir-tx" in aliases.stdout
    # depmod knows it: udev loads it for the overlay's device
    assert b"gpio-ir-tx" in disk.read_root_file(raw_image, f"/lib/modules/{version}/modules.dep")


def test_the_first_boot_unit_and_the_stack_start_at_boot(raw_image):
    wants = disk.root_names(raw_image, "/etc/systemd/system/multi-user.target.wants")
    for unit in ("appliance-firstboot.service", "supervisor.service", "lircd.service", "ssh.service"):
        assert unit in wants
    assert "appliance.toml.example" in disk.boot_names(raw_image)


def test_nothing_of_one_pis_own_is_baked_in(raw_image):
    assert [name for name in disk.root_names(raw_image, "/etc/ssh") if name.startswith("ssh_host_")] == []
    assert disk.read_root_file(raw_image, "/etc/machine-id") == b""
    assert [name for name in disk.root_names(raw_image, "/var/lib/dkms") if name.startswith("mok.")] == []
    # the tokens are generated by the programs on their first start, on each Pi
    assert disk.root_entry(raw_image, "/var/lib/appliance/secrets") is None
    assert disk.root_names(raw_image, "/etc/appliance/secrets") == []
    assert disk.root_entry(raw_image, "/var/lib/appliance/appliance.db") is None
    # and no reboot is left pending by the provisioning (image mode)
    assert disk.root_entry(raw_image, "/run/reboot-required") is None


def test_the_appliance_is_installed_from_the_wheelhouse_with_its_version(raw_image, image_xz):
    version = image_xz.name.removeprefix("appliance-").removesuffix("-debian.img.xz")
    site = disk.root_names(raw_image, "/opt/appliance/venv/lib/python3.11/site-packages")
    assert f"appliance-{version}.dist-info" in site


def _compatible(tree, node: str) -> str:
    found = subprocess.run(["fdtget", tree, node, "compatible"], capture_output=True, text=True)
    return found.stdout.strip()
