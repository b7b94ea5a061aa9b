"""The image's first boot against a temporary tree standing for the Pi's root filesystem and its
boot partition. The programs that need a real system (useradd, sfdisk, visudo...) go to a recorder
that acts out what they would do; one test runs the real visudo on the real sudoers rule."""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance import config as config_module
from appliance.cli import main
from appliance.image import firstboot
from appliance.image.firstboot import (
    CommandFailed,
    FirstBoot,
    keyfile_ssid,
    keyfile_value,
    read_boot_file,
    run_command,
)
from appliance.notices import MAX_NOTICE_BYTES, read_notices

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINlZD+urFUxV5OOx6tXSJz9IOzX9NQt7D8K+g9oR1MR6 alice@laptop"
ED25519_BODY = ED25519.split()[1]
PASSWORD = "s3cret pass;word\\ "  # noqa: S105 - a test's Wi-Fi password, to be kept out of every output
AUTH_VALUE = "hunter2-in-auth"
CURRENT_CONFIG = (
    'data_dir = "/var/lib/appliance"\n\n'
    '[server]\nhost = "0.0.0.0"\nport = 8080\n\n'
    '[lamp]\nbackend = "virtual"\n\n'
    '[[monitor.github]]\nowner = "old"\nrepo = "app"\nworkflow = "ci.yml"\n'
)
PROGRAMS = "[program:server]\ncommand = appliance server\n"
VALID = f"""
[pi]
hostname = "build-lamp"
timezone = "Europe/Berlin"

[pi.wifi]
ssid = "Office"
password = {json.dumps(PASSWORD)}
country = "DE"
hidden = true

[pi.ssh]
authorized_keys = ["{ED25519}"]

[lamp]
backend = "lirc"

[[monitor.github]]
owner = "example"
repo = "app"
workflow = "ci.yml"
"""
# The user's uid and gid, and the config file's group: another than the test's own where it can
# chown, so that a mode or owner not kept shows.
USER_ID = 1000 if os.geteuid() == 0 else os.getuid()
USER_GROUP = 1000 if os.geteuid() == 0 else os.getgid()
CONFIG_GROUP = 4242 if os.geteuid() == 0 else os.getgid()


class Commands:
    """Records each program's argv and acts out what it does to the tree."""

    def __init__(self, root: Path, fail: str | None = None, outputs: dict[str, str] | None = None):
        self.root = root
        self.calls: list[list[str]] = []
        self.stdin: dict[str, str | None] = {}
        self.fail = fail
        self.outputs = outputs or {}

    def __call__(self, argv, stdin=None, timeout=120):
        argv = list(argv)
        self.calls.append(argv)
        program = argv[2] if argv[0] == "chroot" else argv[0]
        self.stdin[program] = stdin
        if program == self.fail:
            raise CommandFailed(argv, "exit code 1: it failed")
        if program == "useradd":
            user = argv[-1]
            with (self.root / "etc/passwd").open("a") as passwd:
                passwd.write(f"{user}:x:{USER_ID}:{USER_GROUP}::/home/{user}:/bin/bash\n")
            (self.root / "home" / user).mkdir(parents=True)
            os.chown(self.root / "home" / user, USER_ID, USER_GROUP)
        if program == "visudo":
            self.checked_sudoers = Path(argv[-1]).read_text()
        if program == firstboot.APPLIANCE.as_posix():
            return PROGRAMS
        return self.outputs.get(program, "")

    def programs(self) -> list[str]:
        return [argv[2] if argv[0] == "chroot" else argv[0] for argv in self.calls]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    files = {
        "etc/passwd": "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/usr/sbin:/usr/sbin/nologin\n"
        "appliance:x:999:999::/var/lib/appliance:/usr/sbin/nologin\n",
        "etc/group": "root:x:0:\nsudo:x:27:\nappliance:x:999:\n",
        "etc/hostname": "debian\n",
        "etc/hosts": "127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost\n",
        "usr/share/zoneinfo/Europe/Berlin": "TZif2",
        "etc/ssh/ssh_host_ed25519_key": "a host key",
        "etc/appliance/appliance.toml": CURRENT_CONFIG,
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    config_file = root / "etc/appliance/appliance.toml"
    config_file.chmod(0o640)
    os.chown(config_file, os.getuid(), CONFIG_GROUP)
    return root


@pytest.fixture
def boot(tmp_path: Path) -> Path:
    boot = tmp_path / "boot"
    boot.mkdir()
    return boot


def first_boot(root: Path, boot: Path, run, grow_partition: bool = False) -> tuple[FirstBoot, list[str]]:
    """The first boot of the tree, and what it says."""
    said: list[str] = []
    return FirstBoot(root=root, boot_dir=boot, run=run, say=said.append, grow_partition=grow_partition), said


def tree(root: Path) -> dict[str, tuple[int, bytes | str]]:
    """Every file and link under ``root`` with its mode and content."""
    found = {}
    for path in sorted(root.rglob("*")):
        status = path.lstat()
        if stat.S_ISLNK(status.st_mode):
            found[str(path.relative_to(root))] = (status.st_mode, os.readlink(path))
        elif stat.S_ISREG(status.st_mode):
            found[str(path.relative_to(root))] = (status.st_mode, path.read_bytes())
        else:
            found[str(path.relative_to(root))] = (status.st_mode, b"")
    return found


def problems_of(root: Path, boot: Path, text: str | bytes) -> list[str]:
    path = boot / "appliance.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(firstboot.BootFileInvalid) as raised:
        read_boot_file(path, root)
    return raised.value.problems


# --- checking the boot file -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[pi]\nhostname = "Build_Lamp"\n', "pi.hostname: must be 1-63 lower-case letters"),
        ('[pi]\nhostname = "-lamp"\n', "pi.hostname: must be 1-63"),
        (f'[pi]\nhostname = "{"a" * 64}"\n', "pi.hostname: must be 1-63"),
        ("[pi]\nhostname = 5\n", "pi.hostname: expected a string, got 5"),
        ('[pi]\ntimezone = "Mars/Olympus"\n', "pi.timezone: no such time zone in /usr/share/zoneinfo"),
        ('[pi]\ntimezone = "../../etc/passwd"\n', "pi.timezone: must be a time zone name"),
        ('[pi]\ntimezone = "Europe"\n', "pi.timezone: no such time zone"),
        ('[pi.wifi]\nssid = ""\npassword = "12345678"\ncountry = "DE"\n', "pi.wifi.ssid: must be 1-32 bytes"),
        (f'[pi.wifi]\nssid = "{"é" * 17}"\npassword = "12345678"\ncountry = "DE"\n', "pi.wifi.ssid: must be"),
        ('[pi.wifi]\nssid = "a"\npassword = "1234567"\ncountry = "DE"\n', "pi.wifi.password: must be 8-63"),
        (f'[pi.wifi]\nssid = "a"\npassword = "{"g" * 64}"\ncountry = "DE"\n', "pi.wifi.password: must be"),
        ('[pi.wifi]\nssid = "a"\npassword = "pässwörter"\ncountry = "DE"\n', "pi.wifi.password: must be"),
        (
            '[pi.wifi]\nssid = "a"\npassword = 12345678\ncountry = "DE"\n',
            "pi.wifi.password: expected a string",
        ),
        ('[pi.wifi]\nssid = "a"\npassword = "12345678"\ncountry = "de"\n', "pi.wifi.country: must be two"),
        ('[pi.wifi]\nssid = "a"\npassword = "12345678"\ncountry = "DEU"\n', "pi.wifi.country: must be two"),
        ('[pi.wifi]\nssid = "a"\npassword = "12345678"\n', "pi.wifi.country: must be set"),
        (
            '[pi.wifi]\nssid = "a"\npassword = "12345678"\ncountry = "DE"\nhidden = "yes"\n',
            "pi.wifi.hidden: expected true or false, got 'yes'",
        ),
        ('[pi.ssh]\nuser = "root"\nauthorized_keys = ["x"]\n', "pi.ssh.user: is a system user"),
        (f'[pi.ssh]\nuser = "appliance"\nauthorized_keys = ["{ED25519}"]\n', "pi.ssh.user: is a system user"),
        (f'[pi.ssh]\nuser = "daemon"\nauthorized_keys = ["{ED25519}"]\n', "pi.ssh.user: is a system user"),
        (
            f'[pi.ssh]\nuser = "sudo"\nauthorized_keys = ["{ED25519}"]\n',
            "pi.ssh.user: is the name of a system",
        ),
        (f'[pi.ssh]\nuser = "Pi"\nauthorized_keys = ["{ED25519}"]\n', "pi.ssh.user: must be 1-32 of a-z"),
        ("[pi.ssh]\nauthorized_keys = []\n", "pi.ssh.authorized_keys: expected a list of public keys"),
        ('[pi.ssh]\nuser = "alice"\n', "pi.ssh.authorized_keys: must be set"),
        (
            f'[pi.ssh]\nauthorized_keys = ["ssh-dss {ED25519_BODY}"]\n',
            "pi.ssh.authorized_keys[0]: must be 'TYPE BASE64 [COMMENT]'",
        ),
        (
            '[pi.ssh]\nauthorized_keys = ["ssh-ed25519 not*base64"]\n',
            "pi.ssh.authorized_keys[0]: the key is not base64",
        ),
        (
            f'[pi.ssh]\nauthorized_keys = ["ssh-rsa {ED25519_BODY}"]\n',
            "pi.ssh.authorized_keys[0]: the key's body is not a ssh-rsa key",
        ),
        (
            f'[pi.ssh]\nauthorized_keys = ["{ED25519}", "{ED25519}\\nssh-ed25519 {ED25519_BODY}"]\n',
            "pi.ssh.authorized_keys[1]: must be one line",
        ),
        (
            '[pi]\ncolour = "red"\n',
            "pi.colour: unknown key (known keys here: hostname, ssh, timezone, wifi)",
        ),
        (
            '[pi.wifi]\nssid = "a"\npasword = "12345678"\ncountry = "DE"\n',
            "pi.wifi.pasword: unknown key (known keys here: country, hidden, password, ssid)",
        ),
        ('[pi.ssh]\nkeys = []\nauthorized_keys = ["x"]\n', "pi.ssh.keys: unknown key"),
        ('pi = "yes"\n', "pi: expected a table"),
        ("[server]\nport = 70000\n", "server.port: must be between 1 and 65535, got 70000"),
        ('[lamp]\nbackend = "ir"\n', "lamp.backend: unknown backend 'ir'"),
        ('[[monitor.github]]\nrepo = "app"\nworkflow = "ci.yml"\n', "monitor.github[0].owner: must be set"),
        ("colour = 1\n", "colour: unknown key"),
        ("[pi\n", "not valid TOML"),
        (b'[pi]\nhostname = "caf\xe9"\n', "the file is not UTF-8 text"),
        (b"# " + b"x" * (64 * 1024), "the file is larger than 64 KiB"),
    ],
)
def test_each_bad_value_is_refused_naming_its_key(root, boot, text, expected):
    problems = problems_of(root, boot, text)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_every_problem_of_the_file_is_named_at_once(root, boot):
    text = '[pi]\nhostname = "A"\n[pi.wifi]\nssid = "a"\npassword = "1"\ncountry = "de"\n[server]\nport = 0\n'
    problems = problems_of(root, boot, text)
    assert [problem.partition(":")[0] for problem in problems] == [
        "pi.hostname",
        "pi.wifi.password",
        "pi.wifi.country",
        "server.port",
    ]


def test_the_wifi_password_and_auth_values_are_never_repeated(root, boot):
    text = (
        f'[pi.wifi]\nssid = "a"\npassword = "{"ä" * 9}"\ncountry = "DE"\n[auth]\ntoken = ["{AUTH_VALUE}"]\n'
    )
    problems = problems_of(root, boot, text)
    assert any(problem.startswith("pi.wifi.password: must be") for problem in problems)
    assert any(problem.startswith("auth.token: expected") for problem in problems)
    assert not any("ä" in problem or AUTH_VALUE in problem for problem in problems), problems


def test_a_valid_file_reads_as_its_settings(root, boot):
    (boot / "appliance.toml").write_text(VALID)
    settings = read_boot_file(boot / "appliance.toml", root)
    assert (settings.hostname, settings.timezone) == ("build-lamp", "Europe/Berlin")
    assert settings.wifi == firstboot.WiFi("Office", PASSWORD, "DE", True)
    assert settings.ssh == firstboot.SSHAccess("pi", [ED25519])
    assert settings.appliance_tables == ["lamp", "monitor"]
    assert PASSWORD not in repr(settings)


def test_the_boot_files_tables_are_merged_over_the_current_configuration(root, boot):
    (boot / "appliance.toml").write_text("[server]\nport = 9000\n[monitor]\nstale_after = 60\n")
    merged = read_boot_file(boot / "appliance.toml", root).appliance_config
    assert merged["server"] == {"host": "0.0.0.0", "port": 9000}
    assert merged["monitor"]["stale_after"] == 60
    assert merged["monitor"]["github"][0]["owner"] == "old"  # tables merge; a list is replaced


def test_a_list_of_the_boot_file_replaces_the_current_one():
    merged = firstboot.deep_merge({"a": {"b": [1, 2], "c": 1}}, {"a": {"b": [3]}})
    assert merged == {"a": {"b": [3], "c": 1}}


# --- all or nothing ---------------------------------------------------------------------------


def test_a_file_with_one_bad_key_changes_nothing_and_says_why(root, boot):
    (boot / "appliance.toml").write_text(VALID.replace('country = "DE"', 'country = "de"'))
    before = tree(root)
    commands = Commands(root)
    boot_run, said = first_boot(root, boot, commands)

    assert boot_run.start() is False

    notice_file = root / "run/appliance/notices/firstboot.json"
    notice = json.loads(notice_file.read_text())
    assert {path: entry for path, entry in tree(root).items() if not path.startswith("run")} == before
    assert commands.calls == []
    assert (boot / "appliance.toml").read_text() == VALID.replace('country = "DE"', 'country = "de"')
    report = (boot / "appliance-firstboot.txt").read_text()
    for text in (report, notice["message"], "\n".join(said)):
        assert "pi.wifi.country: must be two upper-case letters" in text
        assert "was not applied, nothing was changed" in text
        assert PASSWORD not in text and "s3cret" not in text
    assert notice["title"] == "The settings on the SD card were not applied"
    assert notice["action"] == "Fix appliance.toml on the SD card's boot partition and restart the Pi"
    assert stat.S_IMODE(notice_file.stat().st_mode) == 0o644  # the server's user reads it


def test_a_notice_of_many_problems_stays_within_what_the_page_reads(tmp_path):
    problems = [f"monitor.github[{index}].owner: must be set" for index in range(500)]
    data = firstboot.notice_json("not applied:", problems)
    assert len(data) <= MAX_NOTICE_BYTES
    (tmp_path / "firstboot.json").write_bytes(data)
    [notice] = read_notices(tmp_path)
    assert notice["message"].startswith("not applied:\nmonitor.github[0].owner: must be set\n")
    assert re.search(r"\.\.\. and \d+ more in appliance-firstboot.txt on the card$", notice["message"])


# --- applying ---------------------------------------------------------------------------------


def test_a_valid_file_is_applied_removed_and_reported(root, boot):
    (boot / "appliance.toml").write_text(VALID)
    notices = root / "run/appliance/notices"
    notices.mkdir(parents=True)
    (notices / "firstboot.json").write_text("{}")  # of an earlier boot
    commands = Commands(root)
    boot_run, said = first_boot(root, boot, commands)

    assert boot_run.start() is True

    assert (root / "etc/hostname").read_text() == "build-lamp\n"
    assert (root / "etc/hosts").read_text().splitlines() == [
        "127.0.0.1\tlocalhost",
        "127.0.1.1\tbuild-lamp",
        "::1\tlocalhost ip6-localhost",
    ]
    assert os.readlink(root / "etc/localtime") == "/usr/share/zoneinfo/Europe/Berlin"
    assert (root / "etc/timezone").read_text() == "Europe/Berlin\n"
    assert not (boot / "appliance.toml").exists()
    assert not (notices / "firstboot.json").exists()
    report = (boot / "appliance-firstboot.txt").read_text()
    for text in (report, "\n".join(said)):
        assert "was applied and removed" in text
        assert "hostname: build-lamp" in text and "time zone: Europe/Berlin" in text
        assert "Wi-Fi: 'Office', hidden, country DE" in text
        assert "SSH: user pi, 1 authorized key(s)" in text
        assert "appliance configuration (lamp, monitor) merged into /etc/appliance/appliance.toml" in text
        assert "s3cret" not in text
    # Not the running system: no `hostname`, useradd into the root, the programs made in it.
    assert commands.programs() == ["useradd", "visudo", str(firstboot.APPLIANCE)]


def test_the_wifi_connection_is_a_private_networkmanager_keyfile(root, boot):
    (boot / "appliance.toml").write_text(VALID)
    assert first_boot(root, boot, Commands(root))[0].start()

    connection = root / "etc/NetworkManager/system-connections/appliance-wifi.nmconnection"
    assert stat.S_IMODE(connection.stat().st_mode) == 0o600
    assert connection.read_text() == (
        "[connection]\nid=appliance-wifi\n"
        f"uuid={firstboot.WIFI_CONNECTION_UUID}\ntype=wifi\nautoconnect=true\n\n"
        "[wifi]\nmode=infrastructure\nssid=Office\nhidden=true\n\n"
        "[wifi-security]\nkey-mgmt=wpa-psk\npsk=s3cret pass;word\\\\\\s\n\n"
        "[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=auto\n"
    )
    regulatory = (root / "etc/modprobe.d/appliance-wifi-country.conf").read_text()
    assert regulatory.splitlines()[-1] == "options cfg80211 ieee80211_regdom=DE"


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("plain", "plain"),
        ("  two leading", "\\s\\stwo leading"),
        ("back\\slash", "back\\\\slash"),
        ("trailing ", "trailing\\s"),
        ("        ", "\\s" * 8),
    ],
)
def test_keyfile_strings_are_escaped_as_glib_reads_them(value, written):
    assert keyfile_value(value) == written


@pytest.mark.parametrize(
    ("ssid", "written"),
    [
        ("Office 2", "Office 2"),
        ("Café", "67;97;102;195;169;"),
        ("12;34", "49;50;59;51;52;"),  # as text it would read as the bytes 12 and 34
        (" lead", "32;108;101;97;100;"),
    ],
)
def test_an_ssid_is_text_when_plain_else_its_bytes(ssid, written):
    assert keyfile_ssid(ssid) == written


def test_the_ssh_user_gets_the_keys_and_sudo(root, boot):
    (boot / "appliance.toml").write_text(VALID)
    commands = Commands(root)
    assert first_boot(root, boot, commands)[0].start()

    useradd = next(argv for argv in commands.calls if argv[0] == "useradd")
    assert useradd == ["useradd", "--root", str(root), "-m", "-U", "-s", "/bin/bash", "-G", "sudo", "pi"]
    ssh_dir = root / "home/pi/.ssh"
    keys = ssh_dir / "authorized_keys"
    assert keys.read_text() == ED25519 + "\n"
    assert (stat.S_IMODE(ssh_dir.stat().st_mode), stat.S_IMODE(keys.stat().st_mode)) == (0o700, 0o600)
    assert (keys.stat().st_uid, keys.stat().st_gid) == (USER_ID, USER_GROUP)
    assert (ssh_dir.stat().st_uid, ssh_dir.stat().st_gid) == (USER_ID, USER_GROUP)
    sudoers = root / "etc/sudoers.d/010-appliance-pi"
    assert sudoers.read_text().splitlines()[-1] == "pi ALL=(ALL:ALL) NOPASSWD: ALL"
    assert stat.S_IMODE(sudoers.stat().st_mode) == 0o440
    assert commands.checked_sudoers == sudoers.read_text()  # visudo saw it before it was in place


def test_the_sudoers_rule_passes_the_real_visudo(root, boot):
    (boot / "appliance.toml").write_text(f'[pi.ssh]\nuser = "alice"\nauthorized_keys = ["{ED25519}"]\n')
    acted = Commands(root)

    def run(argv, stdin=None, timeout=120):
        return run_command(argv, stdin, timeout) if argv[0] == "visudo" else acted(argv, stdin, timeout)

    boot_run, said = first_boot(root, boot, run)
    assert boot_run.start(), said
    assert (root / "etc/sudoers.d/010-appliance-alice").exists()


def test_an_existing_user_is_not_created_again(root, boot):
    with (root / "etc/passwd").open("a") as passwd:
        passwd.write(f"pi:x:{USER_ID}:{USER_GROUP}::/home/pi:/bin/bash\n")
    (root / "home/pi").mkdir(parents=True)
    (boot / "appliance.toml").write_text(f'[pi.ssh]\nauthorized_keys = ["{ED25519}"]\n')
    commands = Commands(root)
    assert first_boot(root, boot, commands)[0].start()
    assert "useradd" not in commands.programs()
    assert (root / "home/pi/.ssh/authorized_keys").read_text() == ED25519 + "\n"


def test_the_appliance_configuration_is_merged_keeping_its_owner_and_mode(root, boot):
    (boot / "appliance.toml").write_text(VALID)
    commands = Commands(root)
    assert first_boot(root, boot, commands)[0].start()

    config_file = root / "etc/appliance/appliance.toml"
    written = tomllib.loads(config_file.read_text())
    assert written["lamp"] == {"backend": "lirc"}
    assert written["server"] == {"host": "0.0.0.0", "port": 8080}
    assert [source["owner"] for source in written["monitor"]["github"]] == ["example"]
    assert "pi" not in written
    status = config_file.stat()
    assert (stat.S_IMODE(status.st_mode), status.st_uid, status.st_gid) == (0o640, os.getuid(), CONFIG_GROUP)
    assert config_module.load_file(config_file).lamp.backend == "lirc"
    generate = commands.calls[-1]
    assert generate == [
        "chroot",
        str(root),
        str(firstboot.APPLIANCE),
        *["stack", "generate", "--programs-only", "--config", "/etc/appliance/appliance.toml"],
    ]
    programs = root / "etc/supervisor/conf.d/appliance.conf"
    assert programs.read_text() == PROGRAMS
    assert stat.S_IMODE(programs.stat().st_mode) == 0o644


def test_a_failure_while_applying_keeps_the_configuration_and_the_file(root, boot):
    (boot / "appliance.toml").write_text(VALID)
    boot_run, said = first_boot(root, boot, Commands(root, fail=str(firstboot.APPLIANCE)))

    assert boot_run.start() is False

    assert (root / "etc/appliance/appliance.toml").read_text() == CURRENT_CONFIG
    assert not (root / "etc/supervisor/conf.d/appliance.conf").exists()
    assert (boot / "appliance.toml").exists()
    report = (boot / "appliance-firstboot.txt").read_text()
    assert "stopped" in report and "it failed" in report
    assert "Applied before that:" in report and "hostname: build-lamp" in report
    notice = json.loads((root / "run/appliance/notices/firstboot.json").read_text())
    assert "it failed" in notice["message"]
    assert "s3cret" not in report + notice["message"] + "\n".join(said)


def test_the_next_boot_has_nothing_to_do(root, boot):
    (boot / "appliance.toml").write_text(VALID)
    assert first_boot(root, boot, Commands(root))[0].start()
    report = (boot / "appliance-firstboot.txt").read_text()
    after_first = tree(root)
    commands = Commands(root)

    assert first_boot(root, boot, commands)[0].start() is True

    assert commands.calls == []
    assert tree(root) == after_first
    assert (boot / "appliance-firstboot.txt").read_text() == report


def test_on_the_running_system_the_hostname_is_set_now_and_useradd_is_plain(root, boot, monkeypatch):
    (boot / "appliance.toml").write_text(
        f'[pi]\nhostname = "lamp"\n[pi.ssh]\nauthorized_keys = ["{ED25519}"]\n'
    )
    commands = Commands(root)
    boot_run, _ = first_boot(root, boot, commands)
    monkeypatch.setattr(FirstBoot, "on_running_system", True)
    assert boot_run.start()
    assert ["hostname", "lamp"] in commands.calls
    assert next(argv for argv in commands.calls if argv[0] == "useradd")[1] == "-m"


# --- the example ------------------------------------------------------------------------------

EXAMPLE = Path(firstboot.__file__).with_name("appliance.toml.example")


def test_the_example_as_shipped_sets_nothing_and_is_left_alone(root, boot):
    (boot / "appliance.toml").write_text(EXAMPLE.read_text())
    commands = Commands(root)
    boot_run, said = first_boot(root, boot, commands)
    assert boot_run.start() is True
    assert (boot / "appliance.toml").read_text() == EXAMPLE.read_text()
    assert commands.calls == [] and not (boot / "appliance-firstboot.txt").exists()
    assert any("sets nothing" in line for line in said)


def test_the_examples_commented_settings_are_valid(root, boot):
    lines = EXAMPLE.read_text().splitlines()
    # The commented-out TOML: tables, `key = value` lines and the lines of the array.
    setting = re.compile(r'# (\[|[a-z_]+ = |    "|\])')
    uncommented = [line[2:] if setting.match(line) else line for line in lines]
    (boot / "appliance.toml").write_text("\n".join(uncommented) + "\n")
    settings = read_boot_file(boot / "appliance.toml", root)
    assert settings.hostname and settings.timezone and settings.wifi and settings.ssh
    assert settings.appliance_tables == ["auth", "lamp", "monitor"]


def test_the_example_is_in_the_package_data():
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"]["package-data"]
    assert "appliance.toml.example" in package_data["appliance.image"]


# --- the root filesystem and the host keys ----------------------------------------------------


def card(root: Path, partition_end: int, card_sectors: int) -> Commands:
    block = root / "sys/class/block"
    for name, values in {
        "mmcblk0": {"size": card_sectors},
        "mmcblk0p2": {"partition": 2, "start": 1056768, "size": partition_end - 1056768},
    }.items():
        (block / name).mkdir(parents=True)
        for key, value in values.items():
            (block / name / key).write_text(f"{value}\n")
    return Commands(root, outputs={"findmnt": "/dev/mmcblk0p2\n", "lsblk": "mmcblk0\n"})


def test_the_root_partition_and_filesystem_grow_to_the_card(root, boot):
    commands = card(root, partition_end=5251072, card_sectors=62333952)
    boot_run, said = first_boot(root, boot, commands, grow_partition=True)
    assert boot_run.start()
    assert commands.calls == [
        ["findmnt", "-no", "SOURCE", "/"],
        ["lsblk", "-no", "PKNAME", "/dev/mmcblk0p2"],
        ["sfdisk", "--no-reread", "-N", "2", "/dev/mmcblk0"],
        ["partx", "-u", "--nr", "2", "/dev/mmcblk0"],
        ["resize2fs", "/dev/mmcblk0p2"],
    ]
    assert commands.stdin["sfdisk"] == ", +\n"
    assert any("fill the card" in line for line in said)


def test_a_partition_that_fills_the_card_is_left_alone(root, boot):
    commands = card(root, partition_end=62333952 - 2047, card_sectors=62333952)
    assert first_boot(root, boot, commands, grow_partition=True)[0].start()
    assert commands.programs() == ["findmnt", "lsblk"]


def test_a_failure_to_grow_is_said_and_the_rest_goes_on(root, boot):
    commands = card(root, partition_end=5251072, card_sectors=62333952)
    commands.fail = "sfdisk"
    (boot / "appliance.toml").write_text('[pi]\nhostname = "lamp"\n')
    boot_run, said = first_boot(root, boot, commands, grow_partition=True)
    assert boot_run.start() is True
    assert any("not grown" in line and "it failed" in line for line in said)
    assert (root / "etc/hostname").read_text() == "lamp\n"


def test_the_host_keys_are_made_when_there_are_none(root, boot):
    (root / "etc/ssh/ssh_host_ed25519_key").unlink()
    commands = Commands(root)
    assert first_boot(root, boot, commands)[0].start()
    assert commands.calls == [["ssh-keygen", "-A", "-f", str(root)]]


def test_host_keys_that_cannot_be_made_fail_the_boot_step(root, boot):
    (root / "etc/ssh/ssh_host_ed25519_key").unlink()
    boot_run, said = first_boot(root, boot, Commands(root, fail="ssh-keygen"))
    assert boot_run.start() is False
    assert any("SSH host keys could not be made" in line for line in said)


def test_the_real_runner_reports_a_failing_program():
    assert run_command(["sh", "-c", "echo out"]) == "out\n"
    with pytest.raises(CommandFailed, match="exit code 3: err"):
        run_command(["sh", "-c", "echo err >&2; exit 3"])
    with pytest.raises(CommandFailed, match="timed out"):
        run_command(["sleep", "5"], timeout=0.1)


# --- the command ------------------------------------------------------------------------------


def test_the_command_exits_1_with_the_problems_and_0_when_there_is_nothing_to_do(root, boot):
    (boot / "appliance.toml").write_text('[pi]\nhostname = "Bad Name"\n')
    arguments = ["image", "firstboot", "--boot-dir", str(boot), "--root", str(root)]
    refused = CliRunner().invoke(main, arguments)
    assert refused.exit_code == 1
    assert "pi.hostname: must be 1-63" in refused.output
    (boot / "appliance.toml").unlink()
    nothing = CliRunner().invoke(main, arguments)
    assert nothing.exit_code == 0, nothing.output
    assert not (root / "run/appliance/notices/firstboot.json").exists()
