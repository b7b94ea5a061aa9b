"""The showroom: demos deployed from recipes, each on its own port, started and stopped under the
showroom's supervisord, their vhosts served by one Apache.

Everything a demo is lives in files (its directory and ``demo.json``, its program, its enabled
site), and its state in the showroom's supervisord: nothing is kept in memory, so the server and
a command line may act at once. Two locks order them: ``deploy.lock`` makes deployments (and
destructions) one at a time, so that two never take the same name or port; ``control.lock``
makes each change of what supervisord and Apache run one at a time, so that a vhost is tested
against the configuration it then joins.
"""

from __future__ import annotations

import json
import shutil
import socket
import xmlrpc.client
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.ci.process import Command, Limits
from appliance.config import Config
from appliance.showroom import apache, recipes, supervisord
from appliance.showroom.errors import DeploymentError, DestructionError, NoSuchDemo, ShowroomUnavailable
from appliance.showroom.layout import APACHE, NAME, Layout, check_name, readable_directory, write_readable
from appliance.showroom.ports import ANY_ADDRESS, allocate, bindable, locked
from appliance.supervisor import Supervisor, SupervisorUnavailable

# What a recipe and a demo find in their environment before their parameters: nothing of the
# appliance's (which may hold secrets).
DEMO_PATH = "/usr/local/bin:/usr/bin:/bin"
# The showroom gives these; a parameter may not (any case: ``Port`` would be confusing).
RESERVED_PARAMS = {"PORT", "HOST", "PATH", "NAME"}
# A start waits for the demo to stay up 1 s and Apache to start; a stop for a graceful end (5 s).
SUPERVISOR_TIMEOUT = 30.0
MAX_LOG_BYTES = 1024 * 1024
KILL_GRACE_SECONDS = 5.0
LOG_TAIL_BYTES = 16 * 1024
RUNNING = "RUNNING"
STOPPED = "STOPPED"
# Fault codes (supervisor.xmlrpc.Faults) that mean "already as asked".
BAD_NAME, ALREADY_STARTED, NOT_RUNNING = 10, 60, 70

Publish = Callable[[str, dict[str, Any]], None]


class Showroom:
    def __init__(self, config: Config, publish: Publish | None = None, public_host: str | None = None):
        """``publish(topic, data)`` is told the demos after each change; ``public_host`` is the
        host in the demos' URLs (by default this machine's name)."""
        self.settings = config.showroom
        self.layout = Layout.of(config)
        self.supervisor = Supervisor(self.layout.socket, timeout=SUPERVISOR_TIMEOUT)
        self.apache = apache.binary(self.settings.apache)
        self.publish = publish
        self.public_host = public_host or socket.gethostname()

    def available(self) -> dict[str, dict[str, list[str]]]:
        """``{type: {"params": [...]}}``: the recipes and the parameters they read."""
        return recipes.available(self.layout.recipes)

    def demo(self, name: str) -> InstalledDemo:
        return InstalledDemo(self, name)

    def installed(self) -> list[dict[str, Any]]:
        """Every demo, by name, with its status: one call to supervisord for them all."""
        states = self._states()
        sites = apache.enabled_sites(self.layout)
        try:
            names = sorted(path.name for path in self.layout.demos.iterdir() if NAME.fullmatch(path.name))
        except FileNotFoundError:
            return []
        return [self._entry(name, states, sites) for name in names]

    def deploy(self, type_: str, name: str, params: dict[str, str] | None = None) -> InstalledDemo:
        """Run the recipe ``type_`` in a new directory for demo ``name`` on the lowest free port;
        the demo is then STOPPED. A recipe that fails or takes too long leaves nothing behind but
        its log (``deploys/<name>.log``)."""
        demo = InstalledDemo(self, name)
        self._call("getPID")  # before a recipe runs for minutes for a showroom that is not there
        with self._announcing(), locked(self.layout.deploy_lock):
            if demo.directory.exists():
                raise DeploymentError("this demo already exists")
            recipe = recipes.recipes(self.layout.recipes).get(type_)
            if recipe is None:
                raise DeploymentError("this demo does not exist")
            values = _recipe_params(recipe, params or {})
            port = allocate(self._held_ports(), self.settings.port_base, self.settings.ports)
            environment = self._environment(name, port, values)
            try:
                readable_directory(demo.directory)
                self._run_recipe(recipe, name, environment)
                record = {
                    "type": type_,
                    "name": name,
                    "port": port,
                    "params": values,
                    "wanted": "stopped",
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "apache_error": None,
                }
                write_readable(demo.record_file, json.dumps(record, indent=2) + "\n")
                if self.layout.start_script(name).is_file():
                    supervisord.write_demo_environment(self.layout, name, environment)
                    supervisord.write_demo_program(self.layout, name, autostart=False)
                    self._call("reloadConfig")
                    self._call("addProcessGroup", name)
            except BaseException:
                demo.remove_files()
                raise
        return demo

    def _run_recipe(self, recipe: recipes.Recipe, name: str, environment: dict[str, str]) -> None:
        """In the demo's directory, in a process group of its own that is killed whole at the
        time-out, its output in the deploy log."""
        log_path = self.layout.deploy_log(name)
        limits = Limits(
            timeout_seconds=self.settings.recipe_timeout,
            silence_seconds=self.settings.recipe_timeout,
            kill_grace_seconds=KILL_GRACE_SECONDS,
            max_log_bytes=MAX_LOG_BYTES,
        )
        with log_path.open("wb") as log:
            command = Command(recipe.argv, self.layout.demo_dir(name), environment, log, limits)
            outcome = command.run()
            if outcome.exit_code == 0 and outcome.stopped_for is None:
                return
            if outcome.stopped_for == "timeout":
                ending = f"stopped after {self.settings.recipe_timeout:g} s"
            else:
                ending = f"exited with {outcome.exit_code}"
            log.write(f"\n[showroom] the recipe {recipe.type} {ending}\n".encode())
        raise DeploymentError("installation ended with an error", log=_tail(log_path))

    def _environment(self, name: str, port: int, params: dict[str, str]) -> dict[str, str]:
        """The recipe's environment, and then its demo's."""
        base = {"PATH": DEMO_PATH, "HOME": str(self.layout.demo_dir(name)), "LANG": "C.UTF-8"}
        return {**base, **params, "PORT": str(port), "HOST": ANY_ADDRESS, "name": name}

    def _held_ports(self) -> set[int]:
        records = (_read_record(path) for path in self.layout.demos.glob("*/demo.json"))
        return {record["port"] for record in records if isinstance(record.get("port"), int)}

    def _entry(self, name: str, states: dict[str, str], sites: set[str]) -> dict[str, Any]:
        record = _read_record(self.layout.demo_file(name))
        port = record.get("port") if isinstance(record.get("port"), int) else None
        status = _status(
            process=states.get(name, "UNKNOWN") if self.layout.program(name).exists() else None,
            vhost=self.layout.vhost(name).exists(),
            served=name in sites and states.get(APACHE) == RUNNING,
        )
        params = record.get("params")
        return {
            "name": name,
            "type": _text(record.get("type")),
            "port": port,
            "params": params if isinstance(params, dict) else {},
            "status": status,
            "wanted": _text(record.get("wanted")),
            "url": f"http://{self.public_host}:{port}/" if status == RUNNING and port else None,
            "apache_error": _text(record.get("apache_error")),
            "created_at": _text(record.get("created_at")),
        }

    def _states(self) -> dict[str, str]:
        """Each program's state by name (every program is a group of one)."""
        return {info["name"]: info["statename"] for info in self._call("getAllProcessInfo")}

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return self.supervisor.call(method, *args)
        except SupervisorUnavailable as exc:
            raise ShowroomUnavailable(
                f"the showroom's supervisord does not answer on {self.layout.socket}: "
                "is `appliance showroom supervisord` running?"
            ) from exc

    def _call_unless(self, codes: tuple[int, ...], method: str, *args: Any) -> None:
        """A call whose refusal with one of ``codes`` means that things are already as asked."""
        try:
            self._call(method, *args)
        except xmlrpc.client.Fault as fault:
            if fault.faultCode not in codes:
                raise

    def _serve_sites(self) -> None:
        """Make Apache serve the enabled sites: start it, reload it gracefully, or stop it when no
        demo needs it."""
        sites = apache.enabled_sites(self.layout)
        supervisord.write_apache_program(self.layout, self.apache, autostart=bool(sites))
        if not sites:
            self._call_unless((NOT_RUNNING,), "stopProcess", APACHE)
        elif self._call("getProcessInfo", APACHE)["statename"] in (RUNNING, "STARTING"):
            self._call("signalProcess", APACHE, "USR1")  # graceful: open requests end first
        else:
            self._call("startProcess", APACHE)

    @contextmanager
    def _announcing(self) -> Iterator[None]:
        """After a change, or an attempt at one, publish the demos as they now are."""
        try:
            yield
        finally:
            self._announce()

    def _announce(self) -> None:
        if self.publish is None:
            return
        try:
            demos = self.installed()
        except ShowroomUnavailable:
            return  # nothing to tell; the caller hears why
        self.publish("showroom", {"demos": demos})


class InstalledDemo:
    def __init__(self, showroom: Showroom, name: str):
        self.showroom = showroom
        self.name = check_name(name)
        self.layout = showroom.layout

    @property
    def directory(self) -> Path:
        return self.layout.demo_dir(self.name)

    @property
    def record_file(self) -> Path:
        return self.layout.demo_file(self.name)

    def info(self) -> dict[str, Any] | None:
        """The demo as ``Showroom.installed()`` lists it; None when there is no such demo."""
        if not self.directory.is_dir():
            return None
        return self.showroom._entry(self.name, self.showroom._states(), apache.enabled_sites(self.layout))

    def status(self) -> str:
        """Its process's state in supervisord, or its vhost's (RUNNING when Apache serves it),
        or PARTIAL when it has both and they disagree; DESTROYED when there is no such demo."""
        info = self.info()
        return "DESTROYED" if info is None else info["status"]

    def start(self) -> None:
        """Test its vhost against the whole Apache configuration, start its process, then serve
        the vhost. A vhost Apache refuses (or a port another program took) is recorded as the
        demo's ``apache_error`` and nothing starts; a process that does not stay up raises
        supervisord's Fault (ABNORMAL_TERMINATION) and its vhost is not served."""
        showroom = self.showroom
        with showroom._announcing(), locked(self.layout.control_lock):
            record = self._existing_record(NoSuchDemo)
            has_program = self.layout.program(self.name).exists()
            vhost = self.layout.vhost(self.name)
            serve_vhost = vhost.exists() and self.name not in apache.enabled_sites(self.layout)
            if serve_vhost:
                problem = self._vhost_problem(record.get("port"), vhost)
                if problem:
                    self._update_record(apache_error=problem)
                    return
            if has_program:
                showroom._call_unless((ALREADY_STARTED,), "startProcess", self.name)
            if serve_vhost:
                apache.enable_site(self.layout, self.name, vhost)
                try:
                    showroom._serve_sites()
                except xmlrpc.client.Fault as fault:
                    self._withdraw(f"Apache did not start: {fault.faultString}; see logs/apache2.error.log")
                    return
            self._update_record(wanted="running", apache_error=None)
            self._write_program(autostart=True)

    def stop(self) -> None:
        """Stop its process (its whole process group), stop serving its vhost; Apache stops when
        no demo needs it any more."""
        with self.showroom._announcing(), locked(self.layout.control_lock):
            self._existing_record(NoSuchDemo)
            self._stop()
            self._update_record(wanted="stopped")
            self._write_program(autostart=False)

    def destroy(self) -> None:
        """Stop it (also while it runs), then remove its program, its site, its directory and its
        deploy log; its port is free again."""
        showroom = self.showroom
        with showroom._announcing(), locked(self.layout.deploy_lock), locked(self.layout.control_lock):
            if not self.directory.is_dir():
                raise DestructionError("this demo does not exist")
            self._stop()
            showroom._call_unless((BAD_NAME,), "removeProcessGroup", self.name)
            self.remove_files()
            self.layout.deploy_log(self.name).unlink(missing_ok=True)

    def logs(self, max_bytes: int = LOG_TAIL_BYTES) -> dict[str, str]:
        """The end of its recipe's output and of its process's output (a failed deployment has the
        first only)."""
        deploy_log = self.layout.deploy_log(self.name)
        if not self.directory.is_dir() and not deploy_log.exists():
            raise NoSuchDemo("this demo does not exist")
        output = ""
        if self.layout.program(self.name).exists():
            try:
                output = self.showroom._call("tailProcessStdoutLog", self.name, 0, max_bytes)[0]
            except xmlrpc.client.Fault:
                output = ""  # not in supervisord (yet): no output
        return {"deploy": _tail(deploy_log, max_bytes), "output": output}

    def remove_files(self) -> None:
        """Its files, as if it had never been deployed (its deploy log aside)."""
        for path in (self.layout.program(self.name), self.layout.environment(self.name)):
            path.unlink(missing_ok=True)
        shutil.rmtree(self.directory, ignore_errors=True)

    def _stop(self) -> None:
        self.showroom._call_unless((BAD_NAME, NOT_RUNNING), "stopProcess", self.name)
        if apache.disable_site(self.layout, self.name):
            self.showroom._serve_sites()

    def _vhost_problem(self, port: object, vhost: Path) -> str | None:
        if isinstance(port, int) and not bindable(port):
            return f"port {port} is taken by another program"
        return apache.config_test(self.layout, self.showroom.apache, vhost)

    def _withdraw(self, apache_error: str) -> None:
        """Apache failed with this demo's site: take the site back, stop its process."""
        apache.disable_site(self.layout, self.name)
        self.showroom._serve_sites()
        self.showroom._call_unless((BAD_NAME, NOT_RUNNING), "stopProcess", self.name)
        self._update_record(apache_error=apache_error)

    def _existing_record(self, missing: type[Exception]) -> dict[str, Any]:
        if not self.directory.is_dir():
            raise missing("this demo does not exist")
        return _read_record(self.record_file)

    def _update_record(self, **changes: Any) -> None:
        record = {**_read_record(self.record_file), **changes}
        write_readable(self.record_file, json.dumps(record, indent=2) + "\n")

    def _write_program(self, autostart: bool) -> None:
        if self.layout.program(self.name).exists():
            supervisord.write_demo_program(self.layout, self.name, autostart)


def _recipe_params(recipe: recipes.Recipe, params: dict[str, str]) -> dict[str, str]:
    """Every parameter the recipe reads, with the value given or empty; a parameter it does not
    read, or one the showroom gives, is refused."""
    for key, value in params.items():
        if key.upper() in RESERVED_PARAMS:
            raise DeploymentError(f"the parameter {key!r} is the showroom's to give")
        if key not in recipe.params:
            takes = ", ".join(p for p in recipe.params if p.upper() not in RESERVED_PARAMS) or "none"
            raise DeploymentError(f"the recipe {recipe.type} has no parameter {key!r} (it has: {takes})")
        if not isinstance(value, str) or "\0" in value:
            raise DeploymentError(f"the parameter {key!r} must be text without NUL characters")
    return {key: params.get(key, "") for key in recipe.params if key.upper() not in RESERVED_PARAMS}


def _status(process: str | None, vhost: bool, served: bool) -> str:
    """``process``: its program's state (None: it has none); ``served``: Apache serves its vhost."""
    if not vhost:
        return process or STOPPED
    if process is None:
        return RUNNING if served else STOPPED
    return process if served == (process == RUNNING) else "PARTIAL"


def _read_record(path: Path) -> dict[str, Any]:
    """A demo's demo.json; empty when it is missing or broken (the demo is listed all the same)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _tail(path: Path, max_bytes: int = LOG_TAIL_BYTES) -> str:
    try:
        with path.open("rb") as log:
            log.seek(max(0, log.seek(0, 2) - max_bytes))
            return log.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
