"""The image booted in an emulator, as a user would: a first-boot file on the boot partition,
then the status page and SSH through forwarded ports; then a broken file, which leaves the Pi
reachable and says what is wrong on the console and the status page."""

from __future__ import annotations

import subprocess

import pytest

from appliance.image import disk
from tests.harness import wait_until
from tests.sdcard.conftest import require_tools
from tests.sdcard.emulator import EmulatedPi

pytestmark = [pytest.mark.boot, pytest.mark.slow]

# Generous: software emulation of a Cortex-A72 on a shared CI machine. A bound to give up at, not
# a figure: bench/image.py measures the time.
GIVE_UP_AFTER = 1200


def first_boot_file(public_key: str) -> bytes:
    return f"""
[pi]
hostname = "lamp-test"

[pi.wifi]
ssid = "Test lab"
password = "correct horse battery"
country = "GB"

[pi.ssh]
user = "tester"
authorized_keys = ["{public_key}"]

[progress]
interrupted_after = 900
""".encode()


def _sent(pi: EmulatedPi) -> dict | None:
    status, body = pi.get("/api/status")
    monitor = body.get("monitor") if status == 200 else None
    return body if monitor and monitor["driver"]["sent_at"] else None


@pytest.fixture
def ssh_key(tmp_path):
    require_tools("ssh", "ssh-keygen", "qemu-system-aarch64")
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", key], check=True)
    return key


def test_first_boot_applies_the_file_then_a_broken_one_is_reported(card, tmp_path, ssh_key):
    disk.write_boot_file(
        card, "appliance.toml", first_boot_file(ssh_key.with_suffix(".pub").read_text().strip())
    )
    pi = EmulatedPi(card, tmp_path, ssh_key=ssh_key, ssh_user="tester")
    pi.start()
    try:
        pi.wait_for_healthz(GIVE_UP_AFTER)
        # The lamp: the monitor's colour sent by lircd through the kernel's gpio-ir-tx transmitter.
        body = wait_until(lambda: _sent(pi), timeout=GIVE_UP_AFTER, interval=2, what="the lamp's first send")
        (backend,) = body["monitor"]["driver"]["backends"]
        assert backend["name"] == "lirc" and backend["ok"], backend
        assert body["monitor"]["colour"]
        assert body["notices"] == []
        assert pi.ssh("readlink -f /dev/lirc-tx").stdout.strip().startswith("/dev/lirc")
        assert "gpio_ir_tx" in pi.ssh("lsmod").stdout

        # The file was applied: the name, the user with its key and sudo, Wi-Fi, the configuration.
        assert pi.ssh("hostname").stdout.strip() == "lamp-test"
        assert pi.ssh("sudo -n id -u").stdout.strip() == "0"
        wifi = pi.ssh(
            "sudo -n stat -c '%a %U' /etc/NetworkManager/system-connections/appliance-wifi.nmconnection"
        )
        assert wifi.stdout.split() == ["600", "root"]
        assert (
            "ssid=Test lab"
            in pi.ssh("sudo -n cat /etc/NetworkManager/system-connections/*.nmconnection").stdout
        )
        assert "interrupted_after = 900" in pi.ssh("sudo -n cat /etc/appliance/appliance.toml").stdout
        assert pi.ssh("test -e /boot/firmware/appliance.toml", check=False).returncode == 1
        # Each Pi its own host keys, machine id and tokens.
        assert pi.ssh("ls /etc/ssh/ssh_host_ed25519_key.pub").returncode == 0
        assert len(pi.ssh("cat /etc/machine-id").stdout.strip()) == 32
        assert pi.ssh("sudo -n ls /var/lib/appliance/secrets").stdout.split()
        # The root filesystem grew to the card.
        size = int(pi.ssh("df --output=size -B1 / | tail -1").stdout)
        assert size > 2.5 * 1024**3
        programs = pi.ssh("sudo -n supervisorctl status").stdout
        assert "RUNNING" in programs and "FATAL" not in programs and "BACKOFF" not in programs

        # A broken file: the next boot changes nothing, and says so on the console and the page.
        pi.ssh(
            "printf '[pi]\\nhostname = \"Not a hostname!\"\\n' | sudo -n tee /boot/firmware/appliance.toml"
        )
        rebooted_at = pi.ssh_reboot()
        pi.wait_for_healthz(GIVE_UP_AFTER, booted_after=rebooted_at)
        status, body = pi.get("/api/status")
        assert status == 200
        (notice,) = body["notices"]
        assert "pi.hostname" in notice["message"]
        assert "pi.hostname" in pi.console()
        assert pi.ssh("hostname").stdout.strip() == "lamp-test"
        report = pi.ssh("cat /boot/firmware/appliance-firstboot.txt").stdout
        assert "pi.hostname" in report
        pi.ssh("sudo -n systemctl poweroff", check=False)
        assert pi.wait_for_exit(GIVE_UP_AFTER) == 0
    finally:
        pi.kill()
    # Powered off cleanly: the card as the Pi left it. The root partition reaches the card's end.
    root = disk.root_partition(card)
    assert root.start + root.size == card.stat().st_size
    assert "appliance.toml" in disk.boot_names(card)  # the broken file is kept, to be fixed
