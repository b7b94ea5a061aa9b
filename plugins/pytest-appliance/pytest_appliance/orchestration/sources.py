"""The event functions: loaded from the source files, checked against a description before a run."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from pytest_appliance.orchestration.description import Description


def load_sources(paths: list[Path]) -> tuple[dict[Path, ModuleType], list[str]]:
    """Import each source file once, as a module of its own name; problems name the file."""
    modules, problems = {}, []
    for index, path in enumerate(paths):
        if not path.is_file():
            problems.append(f"orchestration_sources: {path}: no such file")
            continue
        name = f"orchestration_source_{index}_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            problems.append(f"orchestration_sources: {path}: {type(error).__name__}: {error}")
            continue
        modules[path] = module
    return modules, problems


def event_functions(modules: dict[Path, ModuleType]) -> dict[str, Callable]:
    """Every public function of the sources by name; a later source's name shadows an earlier one's."""
    return {
        name: value
        for module in modules.values()
        for name, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("_")
    }


def check_events(description: Description, functions: dict[str, Callable]) -> list[str]:
    """An event with no implementation, and a param that its event's function does not take."""
    problems = []
    for index, spec in enumerate(description.events):
        where = f"{description.path}: events[{index}] ({spec.name})"
        function = functions.get(spec.name)
        if function is None:
            problems.append(f"{where}: no function {spec.name!r} in orchestration_sources")
            continue
        taken = inspect.signature(function).parameters
        problems += [
            f"{where}: params.{param}: {spec.name}() takes no argument {param!r}"
            for param in spec.params
            if param not in taken
        ]
    return problems
