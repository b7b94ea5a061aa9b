"""Where the showroom keeps everything, resolved once from the configuration.

Under the showroom directory::

    supervisord.conf        the showroom's own supervisord (written at its start)
    demos/<name>/           what the recipe made (start.sh, apache2.conf, files) and our demo.json
    programs/<name>.conf    a demo's supervisor program; programs/apache2.conf is Apache's
    programs/<name>.env     a demo's environment, sourced by its program
    apache/httpd.conf       Apache's main configuration
    apache/sites/<name>.conf  the enabled vhosts: copies of the demos' tested apache2.conf
    deploys/<name>.log      each recipe's output, kept after a success and after a failure
    run/, logs/             what the showroom's supervisord and Apache write (theirs)
    deploy.lock, control.lock

Everything but ``run/`` and ``logs/`` is written by the appliance's user and only readable by
the showroom's user: a demo cannot change the programs or vhosts the showroom runs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from appliance.config import Config

# The program that serves the demos' vhosts; no demo may take its name.
APACHE = "apache2"
NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
SHIPPED_RECIPES = Path(__file__).resolve().parent / "recipes"


def check_name(name: str) -> str:
    """``name`` if a demo may have it (it becomes a directory, a file and a program's name)."""
    if not name:
        raise ValueError("empty demo name")
    if not NAME.fullmatch(name):
        raise ValueError(
            f"bad demo name {name!r}: 1 to 63 characters, lowercase letters, digits and -, "
            "not starting with -"
        )
    if name == APACHE:
        raise ValueError(f"the demo name {APACHE!r} is the showroom's Apache")
    return name


@dataclass(frozen=True)
class Layout:
    directory: Path
    recipes: Path

    @classmethod
    def of(cls, config: Config) -> Layout:
        showroom = config.showroom
        return cls(
            directory=showroom.directory or config.data_dir / "showroom",
            recipes=showroom.recipes or SHIPPED_RECIPES,
        )

    @property
    def demos(self) -> Path:
        return self.directory / "demos"

    @property
    def programs(self) -> Path:
        return self.directory / "programs"

    @property
    def apache(self) -> Path:
        return self.directory / "apache"

    @property
    def sites(self) -> Path:
        return self.apache / "sites"

    @property
    def deploys(self) -> Path:
        return self.directory / "deploys"

    @property
    def run(self) -> Path:
        return self.directory / "run"

    @property
    def logs(self) -> Path:
        return self.directory / "logs"

    @property
    def socket(self) -> Path:
        return self.run / "supervisor.sock"

    @property
    def supervisord_conf(self) -> Path:
        return self.directory / "supervisord.conf"

    @property
    def httpd_conf(self) -> Path:
        return self.apache / "httpd.conf"

    @property
    def deploy_lock(self) -> Path:
        return self.directory / "deploy.lock"

    @property
    def control_lock(self) -> Path:
        return self.directory / "control.lock"

    @property
    def appliance_directories(self) -> tuple[Path, ...]:
        """The directories the appliance's user writes, in creation order."""
        return (self.directory, self.demos, self.programs, self.apache, self.sites, self.deploys)

    def demo_dir(self, name: str) -> Path:
        return self.demos / name

    def demo_file(self, name: str) -> Path:
        return self.demos / name / "demo.json"

    def start_script(self, name: str) -> Path:
        return self.demos / name / "start.sh"

    def vhost(self, name: str) -> Path:
        return self.demos / name / "apache2.conf"

    def program(self, name: str) -> Path:
        return self.programs / f"{name}.conf"

    def environment(self, name: str) -> Path:
        return self.programs / f"{name}.env"

    def site(self, name: str) -> Path:
        return self.sites / f"{name}.conf"

    def deploy_log(self, name: str) -> Path:
        return self.deploys / f"{name}.log"

    def output_log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


def readable_directory(path: Path, mode: int = 0o755) -> Path:
    """``path``, made if missing (missing parents as the umask makes them), with ``mode``
    whatever the umask."""
    path.mkdir(mode=mode, parents=True, exist_ok=True)
    path.chmod(mode)
    return path


def write_readable(path: Path, text: str) -> None:
    """Replace ``path`` whole (a supervisord or an Apache reading it meanwhile sees the old or
    the new file, never half of one), mode 0644 whatever the umask: the showroom's user reads it,
    only the appliance's writes it."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        os.fchmod(fd, 0o644)
        file.write(text)
    os.replace(partial, path)
