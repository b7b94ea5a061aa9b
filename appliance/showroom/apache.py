"""The Apache that serves the demos' vhosts: its main configuration, the config test a vhost
passes before it is enabled, and the enabled sites.

One Apache for every demo, run by the showroom's supervisord as the showroom's user (so it may
not bind ports below 1024; demos get high ports). A vhost that breaks the configuration would
stop it for every demo at its next reload, hence the test of the whole configuration first.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from appliance.showroom.layout import Layout

# What Apache and the showroom's supervisord run with: none of the appliance's environment
# (which may hold secrets) reaches a demo.
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SYSTEM_ENVIRONMENT = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
# What a static site, a proxied application or a rewriting one needs; a vhost may load more.
MODULES = (
    "mpm_event",
    "authz_core",
    "authz_host",
    "mime",
    "dir",
    "alias",
    "env",
    "setenvif",
    "headers",
    "rewrite",
    "proxy",
    "proxy_http",
)
CONFIG_TEST_SECONDS = 30
MAX_MESSAGE = 2000


def binary(name: str) -> str:
    """The Apache executable ``[showroom] apache`` names, found where system daemons are."""
    return shutil.which(name, path=SYSTEM_PATH) or name


def render_httpd_conf(layout: Layout, modules: Path) -> str:
    """Apache's main configuration: no listener of its own (each vhost brings its ``Listen``),
    nothing served outside the vhosts, its runtime files in ``run/`` and ``logs/``."""
    loads = "\n".join(f'LoadModule {module}_module "{modules / f"mod_{module}.so"}"' for module in MODULES)
    return f"""\
# Written by the appliance at each start of the showroom; do not edit.
ServerRoot "{layout.apache}"
ServerName localhost
DefaultRuntimeDir "{layout.run}"
PidFile "{layout.run / "apache2.pid"}"
ErrorLog "{layout.logs / "apache2.error.log"}"
LogLevel warn
# A stop (SIGWINCH from supervisord) waits this long for open connections.
GracefulShutdownTimeout 3
{loads}
TypesConfig /etc/mime.types
DirectoryIndex index.html
<Directory />
    AllowOverride None
    Require all denied
</Directory>
IncludeOptional "{layout.sites}/*.conf"
"""


def enabled_sites(layout: Layout) -> set[str]:
    """The demos whose vhost Apache serves."""
    return {path.stem for path in layout.sites.glob("*.conf")}


def config_test(layout: Layout, apache: str, vhost: Path) -> str | None:
    """Apache's complaint about its whole configuration (every enabled site) with ``vhost``
    added, or None when it has none."""
    test_conf = layout.apache / "test.conf"
    test_conf.write_text(f'Include "{layout.httpd_conf}"\nInclude "{vhost}"\n', encoding="utf-8")
    try:
        result = subprocess.run(
            [apache, "-t", "-f", str(test_conf)],
            env=SYSTEM_ENVIRONMENT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=CONFIG_TEST_SECONDS,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot test the Apache configuration: {exc}"
    finally:
        test_conf.unlink(missing_ok=True)
    if result.returncode == 0:
        return None
    return (result.stderr + result.stdout).strip()[-MAX_MESSAGE:] or f"{apache} -t exited {result.returncode}"


def enable_site(layout: Layout, name: str, vhost: Path) -> None:
    """Serve a tested vhost: a copy, so that the demo's file changing later changes nothing."""
    shutil.copyfile(vhost, layout.site(name))
    layout.site(name).chmod(0o644)


def disable_site(layout: Layout, name: str) -> bool:
    """Whether the demo's site was enabled."""
    try:
        layout.site(name).unlink()
    except FileNotFoundError:
        return False
    return True
