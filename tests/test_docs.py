"""The docs name every setting, command and route, so a newcomer never meets an undocumented one."""

from pathlib import Path

import pytest

from appliance import schema
from appliance.cli import main
from appliance.config import Config

DOCS = Path(__file__).resolve().parent.parent / "docs"


def dotted_keys(cls, prefix=""):
    for f, hint in schema.schema_fields(cls):
        if hasattr(hint, "__dataclass_fields__"):
            yield from dotted_keys(hint, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}"


def command_names(group, prefix="appliance"):
    for name, command in group.commands.items():
        yield f"{prefix} {name}"
        if hasattr(command, "commands"):
            yield from command_names(command, f"{prefix} {name}")


@pytest.mark.parametrize("key", list(dotted_keys(Config)))
def test_every_setting_is_documented(key):
    assert f"`{key}`" in (DOCS / "configuration.md").read_text()


@pytest.mark.parametrize("command", list(command_names(main)))
def test_every_command_is_documented(command):
    assert f"`{command}" in (DOCS / "cli.md").read_text()


def test_every_route_is_documented(app):
    documented = (DOCS / "api.md").read_text()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            assert f"| {method} | `{rule.rule}`" in documented or f"| {method} | `{path}`" in documented, (
                f"{method} {rule.rule} is not in docs/api.md"
            )
