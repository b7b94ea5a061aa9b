"""The recipes: ``demo_<type>.sh`` scripts, each deploying one type of demo into the directory
it is run in. A line ``# PARAMS: a,b`` names the environment variables it reads; the showroom
itself gives it ``PORT``, ``HOST`` and ``name``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

FILE_NAME = re.compile(r"demo_([a-z0-9][a-z0-9-]{0,62})\.sh")
PARAMS_LINE = "# PARAMS:"
# A parameter reaches the recipe as an environment variable: other names could not.
PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Recipe:
    type: str
    path: Path
    params: tuple[str, ...]

    @property
    def argv(self) -> list[str]:
        """Run as a program (its ``#!`` line chooses the shell), or by ``/bin/sh`` when it is not
        executable: a recipe copied without its mode still works."""
        return [str(self.path)] if os.access(self.path, os.X_OK) else ["/bin/sh", str(self.path)]


def recipes(directory: Path) -> dict[str, Recipe]:
    """Every recipe in ``directory`` by type; none when it does not exist."""
    try:
        paths = sorted(directory.iterdir())
    except FileNotFoundError:
        return {}
    found = {}
    for path in paths:
        match = FILE_NAME.fullmatch(path.name)
        if match and path.is_file():
            found[match[1]] = Recipe(match[1], path, _declared_params(path))
    return found


def available(directory: Path) -> dict[str, dict[str, list[str]]]:
    """``{type: {"params": [...]}}``, as the seed's ``available_demos()``."""
    return {type_: {"params": list(recipe.params)} for type_, recipe in recipes(directory).items()}


def _declared_params(path: Path) -> tuple[str, ...]:
    with path.open(encoding="utf-8", errors="replace") as script:
        for line in script:
            if line.startswith(PARAMS_LINE):
                names = (name.strip() for name in line[len(PARAMS_LINE) :].split(","))
                return tuple(name for name in names if PARAM_NAME.fullmatch(name))
    return ()
