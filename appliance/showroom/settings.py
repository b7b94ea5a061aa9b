"""The `[showroom]` section: where recipes and demos live, their ports, and who runs them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from appliance.schema import port_number, positive, setting


def _user_problem(value: str) -> str | None:
    if value and (not value.replace("-", "").replace("_", "").isalnum() or len(value) > 32):
        return "a user name: letters, digits, - and _, at most 32"
    return None


@dataclass(frozen=True)
class ShowroomConfig:
    enabled: bool = setting(
        False,
        "Run the showroom: its own supervisord, with the demos and their Apache, started by the stack.",
    )
    recipes: Path | None = setting(
        None, "Directory of the recipes (`demo_<type>.sh`); unset: the ones shipped with the appliance."
    )
    directory: Path | None = setting(
        None, "Where the demos, their programs, vhosts and logs live; unset: `<data_dir>/showroom`."
    )
    port_base: int = setting(
        20000, "The first port a demo gets; each takes the lowest free one.", port_number
    )
    ports: int = setting(
        100, "How many ports from `port_base` demos may take (at most that many demos).", positive
    )
    recipe_timeout: float = setting(300.0, "Seconds a recipe may take to deploy a demo.", positive)
    user: str = setting(
        "",
        "The user the showroom's supervisord becomes when the stack starts it as root, so that no "
        "demo runs as root and none can write the showroom's configuration; unset: the stack's user.",
        _user_problem,
    )
    apache: str = setting(
        "apache2", "The Apache binary that serves the demos' vhosts (as the showroom's user)."
    )
    apache_modules: Path = setting(
        Path("/usr/lib/apache2/modules"), "Directory of Apache's modules (`mod_*.so`)."
    )
