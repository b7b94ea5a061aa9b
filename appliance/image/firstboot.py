"""The image's first boot, and every boot after it: grow the root filesystem to the card, make
the SSH host keys, and apply the settings the user put on the boot partition (``appliance.toml``).

Each step is idempotent and cheap when there is nothing to do. The boot file is checked whole
before anything is applied: a file with one bad key changes nothing, keeps its place on the card
and gets a report beside it (``appliance-firstboot.txt``) that any computer can read, and the
status page a notice. Applied, it is removed: it holds the Wi-Fi password.

Every path is taken under ``root`` and the programs that need a real system (useradd, sfdisk,
hostname, visudo...) go through ``run``, so that tests run it all in a temporary tree.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import os
import re
import subprocess
import tempfile
import tomllib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from appliance import config as config_module
from appliance.notices import MAX_NOTICE_BYTES
from appliance.schema import ConfigError

BOOT_FILE_NAME = "appliance.toml"
REPORT_FILE_NAME = "appliance-firstboot.txt"
MAX_BOOT_FILE_BYTES = 64 * 1024
NOTICE_FILE = Path("/run/appliance/notices/firstboot.json")
NOTICE_ACTION = "Fix appliance.toml on the SD card's boot partition and restart the Pi"

# The base role's paths (ansible/roles/base/vars/main.yml).
APPLIANCE = Path("/opt/appliance/venv/bin/appliance")
CONFIG_FILE = Path("/etc/appliance/appliance.toml")
PROGRAMS_FILE = Path("/etc/supervisor/conf.d/appliance.conf")
APPLIANCE_GROUP = "appliance"

WIFI_CONNECTION = Path("/etc/NetworkManager/system-connections/appliance-wifi.nmconnection")
WIFI_COUNTRY_FILE = Path("/etc/modprobe.d/appliance-wifi-country.conf")
# One identity for the connection however often it is rewritten: NetworkManager sees it updated.
WIFI_CONNECTION_UUID = uuid.uuid5(uuid.NAMESPACE_URL, "appliance:appliance-wifi")
ZONEINFO = Path("/usr/share/zoneinfo")

# A partition that ends this close to the end of the card already fills it (sectors of 512 bytes).
GROW_SLACK_SECTORS = 2048

HOSTNAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
TIMEZONE = re.compile(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*")
COUNTRY = re.compile(r"[A-Z]{2}")
WIFI_HEX_KEY = re.compile(r"[0-9A-Fa-f]{64}")
USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "ssh-rsa",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
# Users whose login would be the system's, whatever their uid in this image.
SYSTEM_USERS = {"root", APPLIANCE_GROUP}
FIRST_REGULAR_ID, LAST_REGULAR_ID = 1000, 59999  # Debian's range for people's accounts

PI_KEYS = {"hostname", "timezone", "wifi", "ssh"}
WIFI_KEYS = {"ssid", "password", "country", "hidden"}
SSH_KEYS = {"user", "authorized_keys"}


class CommandFailed(Exception):
    def __init__(self, argv: Sequence[str], problem: str):
        super().__init__(f"{' '.join(argv)}: {problem}")


def run_command(argv: Sequence[str], stdin: str | None = None, timeout: float = 120) -> str:
    """Run a program; its standard output, or CommandFailed with its error output."""
    try:
        done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CommandFailed(argv, str(exc)) from None
    if done.returncode != 0:
        raise CommandFailed(argv, f"exit code {done.returncode}: {done.stderr.strip()}")
    return done.stdout


Run = Callable[..., str]


class BootFileInvalid(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class WiFi:
    ssid: str
    password: str = field(repr=False)
    country: str
    hidden: bool


@dataclass(frozen=True)
class SSHAccess:
    user: str
    authorized_keys: list[str]


@dataclass(frozen=True)
class BootSettings:
    """What a valid boot file asks for; None (or empty) where it asks for nothing."""

    hostname: str | None = None
    timezone: str | None = None
    wifi: WiFi | None = None
    ssh: SSHAccess | None = None
    appliance_tables: list[str] = field(default_factory=list)  # the keys it sets, for the report
    appliance_config: dict[str, Any] | None = None  # merged over the current file

    @property
    def empty(self) -> bool:
        return not (self.hostname or self.timezone or self.wifi or self.ssh or self.appliance_tables)


# --- reading and checking the boot file -------------------------------------------------------


def read_boot_file(path: Path, root: Path, config_file: Path = CONFIG_FILE) -> BootSettings:
    """The settings of the boot file, all of it checked; BootFileInvalid with every problem, each
    naming its key, and never a secret's value."""
    try:
        with path.open("rb") as file:
            data = file.read(MAX_BOOT_FILE_BYTES + 1)
    except OSError as exc:
        raise BootFileInvalid([f"cannot read the file: {exc.strerror}"]) from None
    if len(data) > MAX_BOOT_FILE_BYTES:
        raise BootFileInvalid([f"the file is larger than {MAX_BOOT_FILE_BYTES // 1024} KiB"])
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise BootFileInvalid(["the file is not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise BootFileInvalid([f"not valid TOML: {exc}"]) from None

    problems: list[str] = []
    pi = raw.pop("pi", {})
    settings: dict[str, Any] = {}
    if not isinstance(pi, dict):
        problems.append("pi: expected a table ([pi])")
    else:
        settings = _pi_settings(pi, root, problems)
    if raw:
        settings["appliance_tables"] = sorted(raw)
        settings["appliance_config"] = _merged_config(raw, root, config_file, problems)
    if problems:
        raise BootFileInvalid(problems)
    return BootSettings(**settings)


def _unknown_keys(table: dict[str, Any], known: set[str], prefix: str, problems: list[str]) -> None:
    for key in sorted(set(table) - known):
        problems.append(f"{prefix}{key}: unknown key (known keys here: {', '.join(sorted(known))})")


def _table(pi: dict[str, Any], key: str, problems: list[str]) -> dict[str, Any] | None:
    value = pi.get(key)
    if value is not None and not isinstance(value, dict):
        problems.append(f"pi.{key}: expected a table ([pi.{key}])")
        return None
    return value


def _pi_settings(pi: dict[str, Any], root: Path, problems: list[str]) -> dict[str, Any]:
    _unknown_keys(pi, PI_KEYS, "pi.", problems)
    settings: dict[str, Any] = {}
    if "hostname" in pi:
        settings["hostname"] = _checked(pi["hostname"], "pi.hostname", hostname_problem, problems)
    if "timezone" in pi:
        settings["timezone"] = _checked(
            pi["timezone"], "pi.timezone", lambda name: timezone_problem(name, root), problems
        )
    if (wifi := _table(pi, "wifi", problems)) is not None:
        settings["wifi"] = _wifi(wifi, problems)
    if (ssh := _table(pi, "ssh", problems)) is not None:
        settings["ssh"] = _ssh(ssh, root, problems)
    return settings


def _checked(value: Any, key: str, problem_of: Callable[[str], str | None], problems: list[str]) -> Any:
    if not isinstance(value, str):
        problems.append(f"{key}: expected a string, got {value!r}")
        return None
    if problem := problem_of(value):
        problems.append(f"{key}: {problem}, got {value!r}")
    return value


def hostname_problem(name: str) -> str | None:
    if HOSTNAME.fullmatch(name):
        return None
    return "must be 1-63 lower-case letters, digits and '-', not starting or ending with '-'"


def timezone_problem(name: str, root: Path) -> str | None:
    if ".." in name.split("/") or not TIMEZONE.fullmatch(name):
        return "must be a time zone name such as 'Europe/Berlin'"
    if not under(root, ZONEINFO / name).is_file():
        return f"no such time zone in {ZONEINFO}"
    return None


def _wifi(wifi: dict[str, Any], problems: list[str]) -> WiFi | None:
    count = len(problems)
    _unknown_keys(wifi, WIFI_KEYS, "pi.wifi.", problems)
    for key in ("ssid", "password", "country"):
        if key not in wifi:
            problems.append(f"pi.wifi.{key}: must be set")
    ssid, password, country = wifi.get("ssid"), wifi.get("password"), wifi.get("country")
    hidden = wifi.get("hidden", False)
    if "ssid" in wifi:
        _checked(ssid, "pi.wifi.ssid", ssid_problem, problems)
    if "password" in wifi and (problem := wifi_password_problem(password)):
        problems.append(f"pi.wifi.password: {problem} (the value is not shown: it is a secret)")
    if "country" in wifi:
        _checked(country, "pi.wifi.country", country_problem, problems)
    if not isinstance(hidden, bool):
        problems.append(f"pi.wifi.hidden: expected true or false, got {hidden!r}")
    return WiFi(ssid, password, country, hidden) if len(problems) == count else None


def ssid_problem(ssid: str) -> str | None:
    return None if 1 <= len(ssid.encode("utf-8")) <= 32 else "must be 1-32 bytes (UTF-8)"


def country_problem(code: str) -> str | None:
    return None if COUNTRY.fullmatch(code) else "must be two upper-case letters (ISO 3166) such as 'DE'"


def wifi_password_problem(password: Any) -> str | None:
    if not isinstance(password, str):
        return "expected a string"
    printable = all(" " <= character <= "~" for character in password)
    if (printable and 8 <= len(password) <= 63) or WIFI_HEX_KEY.fullmatch(password):
        return None
    return "must be 8-63 printable ASCII characters, or 64 hexadecimal digits"


def _ssh(ssh: dict[str, Any], root: Path, problems: list[str]) -> SSHAccess | None:
    count = len(problems)
    _unknown_keys(ssh, SSH_KEYS, "pi.ssh.", problems)
    user = _checked(ssh.get("user", "pi"), "pi.ssh.user", lambda name: user_problem(name, root), problems)
    keys = ssh.get("authorized_keys")
    if keys is None:
        problems.append("pi.ssh.authorized_keys: must be set")
    elif not isinstance(keys, list) or not keys:
        problems.append("pi.ssh.authorized_keys: expected a list of public keys (one at least)")
    else:
        for index, key in enumerate(keys):
            if problem := public_key_problem(key):
                problems.append(f"pi.ssh.authorized_keys[{index}]: {problem}")
    return SSHAccess(user, keys) if len(problems) == count else None


def user_problem(name: str, root: Path) -> str | None:
    if not USER_NAME.fullmatch(name):
        return "must be 1-32 of a-z, 0-9, '_' and '-', starting with a letter or '_'"
    account = passwd_entry(root, name)
    if name in SYSTEM_USERS or (account and not FIRST_REGULAR_ID <= account.uid <= LAST_REGULAR_ID):
        return "is a system user; name a user of your own"
    group_id = group_ids(root).get(name)
    if account is None and group_id is not None and group_id < FIRST_REGULAR_ID:
        return "is the name of a system group; name a user of your own"
    return None


def public_key_problem(line: Any) -> str | None:
    """A line of authorized_keys: type, base64 body (whose first field is that type), comment."""
    if not isinstance(line, str):
        return f"expected a string, got {line!r}"
    if any(character in line for character in "\r\n\0"):
        return "must be one line"
    fields = line.split(None, 2)
    if len(fields) < 2 or fields[0] not in SSH_KEY_TYPES:
        return f"must be 'TYPE BASE64 [COMMENT]' with a TYPE of {', '.join(SSH_KEY_TYPES)}, got {line!r}"
    key_type, body = fields[0], fields[1]
    try:
        blob = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        return f"the key is not base64, got {line!r}"
    length = int.from_bytes(blob[:4], "big")
    if len(blob) < 4 + length or blob[4 : 4 + length] != key_type.encode():
        return f"the key's body is not a {key_type} key, got {line!r}"
    return None


def _merged_config(
    tables: dict[str, Any], root: Path, config_file: Path, problems: list[str]
) -> dict[str, Any] | None:
    """The current configuration with the boot file's tables over it, checked as `appliance config
    check` does (secrets aside: the references are resolved where the programs run)."""
    current_file = under(root, config_file)
    try:
        current = tomllib.loads(current_file.read_text(encoding="utf-8")) if current_file.exists() else {}
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"{config_file}: cannot be read to merge the file's tables into it: {exc}")
        return None
    merged = deep_merge(current, tables)
    with tempfile.TemporaryDirectory() as directory:
        checked = Path(directory) / "appliance.toml"
        checked.write_text(tomli_w.dumps(merged), encoding="utf-8")
        try:
            config_module.load_file(checked)
        except ConfigError as exc:
            for line in str(exc).splitlines():
                problems.append(_without_secret(line.removeprefix(f"{checked}: ")))
            return None
    return merged


def _without_secret(problem: str) -> str:
    """A loader's problem without the value it repeats when the key is under [auth]."""
    key = problem.partition(":")[0]
    if key == "auth" or key.startswith(("auth.", "auth[")):
        return problem.partition(", got ")[0]
    return problem


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: tables merged key by key, anything else (arrays too) replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# --- the system's files -----------------------------------------------------------------------


def under(root: Path, path: Path) -> Path:
    """``path`` of the system whose ``/`` is ``root``."""
    return root / path.relative_to("/")


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    home: Path


def passwd_entry(root: Path, name: str) -> Account | None:
    try:
        lines = under(root, Path("/etc/passwd")).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    for line in lines:
        fields = line.split(":")
        if len(fields) >= 7 and fields[0] == name:
            return Account(name, int(fields[2]), int(fields[3]), Path(fields[5]))
    return None


def group_ids(root: Path) -> dict[str, int]:
    try:
        lines = under(root, Path("/etc/group")).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    return {fields[0]: int(fields[2]) for line in lines if len(fields := line.split(":")) >= 3}


def write_atomically(
    path: Path,
    data: bytes,
    mode: int | None = None,
    owner: tuple[int, int] | None = None,
    check: Callable[[Path], None] | None = None,
) -> None:
    """Write ``path`` whole or not at all: a temporary file beside it (its name starts with a dot
    and holds one, which sudoers.d and conf.d readers skip), synced, checked, then renamed over it.
    ``mode`` None: the file system's own (FAT has no modes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            if mode is not None:
                os.fchmod(file.fileno(), mode)
            if owner is not None:
                os.fchown(file.fileno(), *owner)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if check is not None:
            check(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    # The rename survives a power cut only once the directory is on the card too.
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_keeping_mode(path: Path, data: bytes, mode: int, owner: tuple[int, int] | None = None) -> None:
    """Like ``write_atomically``, with the mode and owner of the file it replaces, if any."""
    try:
        status = path.stat()
    except FileNotFoundError:
        write_atomically(path, data, mode, owner)
        return
    write_atomically(path, data, status.st_mode & 0o7777, (status.st_uid, status.st_gid))


def keyfile_value(value: str) -> str:
    """A printable ASCII string (a Wi-Fi password) as a GLib key file, NetworkManager's keyfile,
    reads it back: backslashes doubled, spaces at either end as ``\\s`` (GLib drops leading ones)."""
    escaped = value.replace("\\", "\\\\")
    body = escaped.strip(" ")
    leading = len(escaped) - len(escaped.lstrip(" "))
    trailing = len(escaped) - len(escaped.rstrip(" ")) if body else 0
    return "\\s" * leading + body + "\\s" * trailing


def keyfile_ssid(ssid: str) -> str:
    """An SSID as NetworkManager reads it: as text when that is plain printable ASCII, else as its
    bytes ("72;105;"), as NetworkManager itself writes one (text with a ';' could read as bytes)."""
    plain = all(" " <= character <= "~" for character in ssid) and not any(c in ssid for c in ";\\")
    if plain and ssid == ssid.strip(" "):
        return ssid
    return "".join(f"{byte};" for byte in ssid.encode("utf-8"))


def wifi_connection(wifi: WiFi) -> str:
    return "\n".join(
        [
            "[connection]",
            "id=appliance-wifi",
            f"uuid={WIFI_CONNECTION_UUID}",
            "type=wifi",
            "autoconnect=true",
            "",
            "[wifi]",
            "mode=infrastructure",
            f"ssid={keyfile_ssid(wifi.ssid)}",
            *(["hidden=true"] if wifi.hidden else []),
            "",
            "[wifi-security]",
            "key-mgmt=wpa-psk",
            f"psk={keyfile_value(wifi.password)}",
            "",
            "[ipv4]",
            "method=auto",
            "",
            "[ipv6]",
            "method=auto",
            "",
        ]
    )


# --- the first boot ---------------------------------------------------------------------------


def notice_json(headline: str, problems: list[str]) -> bytes:
    """The status page's notice: as many of the problems as its size bound lets the page show."""
    shown = list(problems)
    while True:
        left_out = len(problems) - len(shown)
        more = [f"... and {left_out} more in {REPORT_FILE_NAME} on the card"] if left_out else []
        notice = {
            "title": "The settings on the SD card were not applied",
            "message": "\n".join([headline, *shown, *more]),
            "action": NOTICE_ACTION,
        }
        data = json.dumps(notice, indent=2).encode()
        if len(data) <= MAX_NOTICE_BYTES or not shown:
            return data
        shown.pop()


def print_line(message: str) -> None:
    print(message, flush=True)


class ApplyFailed(Exception):
    pass


@dataclass
class FirstBoot:
    """The boot-time steps, on the system whose ``/`` is ``root``."""

    root: Path = Path("/")
    boot_dir: Path = Path("/boot/firmware")
    run: Run = run_command
    say: Callable[[str], None] = print_line
    # Only the running system's card: under another root, sysfs and findmnt would be the host's.
    grow_partition: bool = True
    appliance: Path = APPLIANCE
    config_file: Path = CONFIG_FILE
    programs_file: Path = PROGRAMS_FILE
    now: Callable[[], datetime.datetime] = field(default=lambda: datetime.datetime.now(datetime.UTC))

    @property
    def on_running_system(self) -> bool:
        return self.root == Path("/")

    def path(self, system_path: Path | str) -> Path:
        return under(self.root, Path(system_path))

    def start(self) -> bool:
        """Every step; False when the boot file is invalid or could not be applied, or the host
        keys could not be made."""
        if self.grow_partition:
            try:
                self.grow_root_filesystem()
            except (CommandFailed, OSError, ValueError) as exc:
                self.say(f"firstboot: the root filesystem was not grown (the rest goes on): {exc}")
        keys_made = self.make_host_keys()
        return self.apply_boot_file() and keys_made

    # (a) the root filesystem

    def grow_root_filesystem(self) -> None:
        partition = self.run(["findmnt", "-no", "SOURCE", "/"]).strip()
        if not partition.startswith("/dev/"):
            raise ValueError(f"the root filesystem is on {partition!r}, not a partition of a disk")
        disk = self.run(["lsblk", "-no", "PKNAME", partition]).strip()
        if not disk:
            raise ValueError(f"{partition} is not a partition of a disk")
        block = self.path("/sys/class/block")
        partition_dir = block / Path(partition).name
        number = int((partition_dir / "partition").read_text())
        end = int((partition_dir / "start").read_text()) + int((partition_dir / "size").read_text())
        disk_sectors = int((block / disk / "size").read_text())
        if disk_sectors - end < GROW_SLACK_SECTORS:
            return
        disk_device = f"/dev/{disk}"
        self.say(f"firstboot: growing {partition} to the end of {disk_device}")
        self.run(["sfdisk", "--no-reread", "-N", str(number), disk_device], stdin=", +\n")
        self.run(["partx", "-u", "--nr", str(number), disk_device])
        # Online growth of a large card takes a while.
        self.run(["resize2fs", partition], timeout=900)
        self.say(f"firstboot: {partition} and its filesystem now fill the card")

    # (b) the SSH host keys

    def make_host_keys(self) -> bool:
        if any(self.path("/etc/ssh").glob("ssh_host_*_key")):
            return True
        prefix = [] if self.on_running_system else ["-f", str(self.root)]
        try:
            self.run(["ssh-keygen", "-A", *prefix])
        except CommandFailed as exc:
            self.say(f"firstboot: the SSH host keys could not be made, sshd will not start: {exc}")
            return False
        self.say("firstboot: made the SSH host keys")
        return True

    # (c) the boot file

    @property
    def boot_file(self) -> Path:
        return self.boot_dir / BOOT_FILE_NAME

    def apply_boot_file(self) -> bool:
        if not self.boot_file.exists():
            self.say(f"firstboot: no {self.boot_file}, nothing to apply")
            self._remove_notice()
            return True
        try:
            settings = read_boot_file(self.boot_file, self.root, self.config_file)
        except BootFileInvalid as invalid:
            self._failed(
                f"{self.boot_file} was not applied, nothing was changed:", invalid.problems, applied=[]
            )
            return False
        if settings.empty:
            self.say(f"firstboot: {self.boot_file} sets nothing; left as it is")
            self._remove_notice()
            return True
        applied: list[str] = []
        try:
            self._apply(settings, applied)
        except (ApplyFailed, CommandFailed, OSError) as exc:
            self._failed(f"applying {self.boot_file} stopped:", [str(exc)], applied)
            return False
        self.boot_file.unlink()
        _sync_directory(self.boot_dir)
        lines = [f"{self.boot_file} was applied and removed (it held the Wi-Fi password):"]
        lines += [f"- {item}" for item in applied]
        self._write_report(lines)
        self._remove_notice()
        for line in lines:
            self.say(f"firstboot: {line}")
        return True

    def _apply(self, settings: BootSettings, applied: list[str]) -> None:
        # The system's settings first, the appliance's configuration last (it needs the others).
        if settings.hostname:
            self.set_hostname(settings.hostname)
            applied.append(f"hostname: {settings.hostname}")
        if settings.timezone:
            self.set_timezone(settings.timezone)
            applied.append(f"time zone: {settings.timezone}")
        if settings.wifi:
            self.set_wifi(settings.wifi)
            hidden = ", hidden" if settings.wifi.hidden else ""
            applied.append(f"Wi-Fi: {settings.wifi.ssid!r}{hidden}, country {settings.wifi.country}")
        if settings.ssh:
            self.set_ssh_access(settings.ssh)
            count = len(settings.ssh.authorized_keys)
            applied.append(f"SSH: user {settings.ssh.user}, {count} authorized key(s), sudo")
        if settings.appliance_config is not None:
            self.set_appliance_config(settings.appliance_config)
            tables = ", ".join(settings.appliance_tables)
            applied.append(f"appliance configuration ({tables}) merged into {self.config_file}")

    def set_hostname(self, name: str) -> None:
        write_keeping_mode(self.path("/etc/hostname"), f"{name}\n".encode(), 0o644)
        hosts = self.path("/etc/hosts")
        lines = hosts.read_text(encoding="utf-8").splitlines() if hosts.exists() else []
        entry = f"127.0.1.1\t{name}"
        kept = [line for line in lines if line.split()[:1] != ["127.0.1.1"]]
        index = next((i for i, line in enumerate(lines) if line.split()[:1] == ["127.0.1.1"]), len(kept))
        kept.insert(index, entry)
        write_keeping_mode(hosts, ("\n".join(kept) + "\n").encode(), 0o644)
        if self.on_running_system:
            self.run(["hostname", name])

    def set_timezone(self, name: str) -> None:
        localtime = self.path("/etc/localtime")
        link = localtime.with_name(f".localtime.{os.getpid()}.tmp")
        link.unlink(missing_ok=True)
        link.symlink_to(ZONEINFO / name)
        os.replace(link, localtime)
        write_keeping_mode(self.path("/etc/timezone"), f"{name}\n".encode(), 0o644)

    def set_wifi(self, wifi: WiFi) -> None:
        # NetworkManager ignores a connection file that others may read: it holds the password.
        write_atomically(self.path(WIFI_CONNECTION), wifi_connection(wifi).encode(), 0o600)
        regulatory = "# Written by appliance-firstboot from the SD card's appliance.toml\n"
        regulatory += f"options cfg80211 ieee80211_regdom={wifi.country}\n"
        write_atomically(self.path(WIFI_COUNTRY_FILE), regulatory.encode(), 0o644)

    def set_ssh_access(self, ssh: SSHAccess) -> None:
        if passwd_entry(self.root, ssh.user) is None:
            # useradd leaves the password locked ("!"): the user logs in with a key, sudo asks none.
            target = [] if self.on_running_system else ["--root", str(self.root)]
            self.run(["useradd", *target, "-m", "-U", "-s", "/bin/bash", "-G", "sudo", ssh.user])
        account = passwd_entry(self.root, ssh.user)
        if account is None:
            raise ApplyFailed(f"user {ssh.user} is not in /etc/passwd after useradd")
        ssh_dir = self.path(account.home) / ".ssh"
        if ssh_dir.is_symlink():
            raise ApplyFailed(f"{account.home}/.ssh is a symbolic link; not writing through it")
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        os.chown(ssh_dir, account.uid, account.gid)
        ssh_dir.chmod(0o700)
        keys = "".join(f"{key.strip()}\n" for key in ssh.authorized_keys)
        write_atomically(ssh_dir / "authorized_keys", keys.encode(), 0o600, (account.uid, account.gid))
        rule = f"# Written by appliance-firstboot: {ssh.user} logs in with a key and has no password.\n"
        rule += f"{ssh.user} ALL=(ALL:ALL) NOPASSWD: ALL\n"
        sudoers = self.path(f"/etc/sudoers.d/010-appliance-{ssh.user}")
        write_atomically(sudoers, rule.encode(), 0o440, check=self._check_sudoers)

    def _check_sudoers(self, path: Path) -> None:
        self.run(["visudo", "-cf", str(path)])

    def set_appliance_config(self, merged: dict[str, Any]) -> None:
        config_file = self.path(self.config_file)
        previous = config_file.read_bytes() if config_file.exists() else None
        group = group_ids(self.root).get(APPLIANCE_GROUP, 0)
        write_keeping_mode(config_file, tomli_w.dumps(merged).encode(), 0o640, (0, group))
        try:
            programs = self.run(self._in_root([str(self.appliance), *self._generate_arguments()]))
        except CommandFailed:
            # The programs stay those of the previous configuration: so does the configuration.
            if previous is None:
                config_file.unlink()
            else:
                write_keeping_mode(config_file, previous, 0o640)
            raise
        write_atomically(self.path(self.programs_file), programs.encode(), 0o644)

    def _generate_arguments(self) -> list[str]:
        return ["stack", "generate", "--programs-only", "--config", str(self.config_file)]

    def _in_root(self, argv: list[str]) -> list[str]:
        # The programs name the system's paths, not this root's.
        return argv if self.on_running_system else ["chroot", str(self.root), *argv]

    # the report on the card and the notice on the status page

    def _failed(self, headline: str, problems: list[str], applied: list[str]) -> None:
        lines = [headline, *(f"- {problem}" for problem in problems)]
        if applied:
            lines += ["Applied before that:", *(f"- {item}" for item in applied)]
        lines.append(f"{NOTICE_ACTION}.")
        self._write_report(lines)
        for line in lines:
            self.say(f"firstboot: {line}")
        write_atomically(self.path(NOTICE_FILE), notice_json(headline, problems), 0o644)

    def _write_report(self, lines: list[str]) -> None:
        when = self.now().strftime("%Y-%m-%d %H:%M:%S UTC")
        text = "\r\n".join([f"appliance first boot, {when}", "", *lines, ""])  # for Notepad too
        write_atomically(self.boot_dir / REPORT_FILE_NAME, text.encode("utf-8"))

    def _remove_notice(self) -> None:
        self.path(NOTICE_FILE).unlink(missing_ok=True)
