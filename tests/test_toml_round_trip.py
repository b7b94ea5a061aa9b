"""`appliance config show` and the roles' `toml_fragment` filter write TOML that reads back as the
configuration it shows, whatever the values: every setting of every section (found by walking the
schema, so a new setting is covered the day it is added) gets generated values of its type."""

from __future__ import annotations

import dataclasses
import importlib.util
import tempfile
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from appliance.ci.environment import ENV_NAME_PATTERN, env_problem, set_by_runner
from appliance.config import Config, load_file, to_toml
from appliance.lamp.keys import COLOUR_KEYS
from appliance.lamp.settings import LAMP_BACKENDS, gpio_pin, lamp_backend_names
from appliance.monitor.settings import state_colours, step_phases
from appliance.monitor.states import PHASE_FAILED, State
from appliance.schema import SAFE_NAME_PATTERN, Secret, as_toml, port_number, safe_name, schema_fields
from appliance.validation import validate

FILTER = Path(__file__).resolve().parent.parent / "ansible/roles/base/filter_plugins/toml_fragment.py"

# Any Unicode, with the characters TOML escapes or treats specially drawn often.
TEXT = st.text(
    st.characters(codec="utf-8") | st.sampled_from("\"\\\n\r\t\b\f\x00\x1f\x7f'#=[]{}."), max_size=20
)
SECRET_REFS = st.tuples(st.sampled_from(["env:", "file:"]), TEXT.filter(bool)).map("".join)

# Values for the checks that refuse nearly every value of their type.
CHECKED_VALUES = {
    port_number: st.integers(1, 65535),
    gpio_pin: st.integers(0, 27),
    safe_name: st.from_regex(SAFE_NAME_PATTERN, fullmatch=True),
    lamp_backend_names: st.sampled_from(LAMP_BACKENDS)
    | st.lists(st.sampled_from(LAMP_BACKENDS), min_size=1, unique=True),
    step_phases: st.dictionaries(TEXT, st.sampled_from([phase.value for phase in PHASE_FAILED]), max_size=3),
    state_colours: st.dictionaries(
        st.sampled_from([state.value for state in State]), st.sampled_from(COLOUR_KEYS), max_size=3
    ),
    env_problem: st.dictionaries(
        st.from_regex(ENV_NAME_PATTERN, fullmatch=True).filter(lambda name: not set_by_runner(name)),
        TEXT | SECRET_REFS,
        max_size=3,
    ),
}


def values_of(hint: Any) -> st.SearchStrategy:
    """Values of a schema type, as loading a file makes them (absolute paths)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(values_of(alternative) for alternative in typing.get_args(hint)))
    if origin is list:
        return st.lists(values_of(typing.get_args(hint)[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(TEXT, values_of(typing.get_args(hint)[1]), max_size=3)
    if dataclasses.is_dataclass(hint):
        return st.builds(hint, **{f.name: setting_values(f, inner) for f, inner in schema_fields(hint)})
    scalars = {
        type(None): st.none(),
        bool: st.booleans(),
        int: st.integers(-(2**63), 2**63 - 1),  # TOML's integers are 64-bit
        float: st.floats(allow_nan=False),  # NaN is no setting's value, and unequal to itself
        str: TEXT,
        Path: TEXT.map(lambda text: Path("/" + text)),
        Secret: SECRET_REFS.map(Secret),
    }
    return scalars[hint]


def setting_values(f: dataclasses.Field, hint: Any) -> st.SearchStrategy:
    """Values of one setting that a file can hold: a required one is never empty, and a value its
    check refuses becomes the default."""
    check = f.metadata.get("check")
    values = CHECKED_VALUES[check] if check in CHECKED_VALUES else values_of(hint)
    if f.metadata.get("required"):
        values = values.filter(bool)
    if check is None:
        return values
    default = f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
    return values.map(lambda value: value if check(value) is None else default)


CONFIGS = st.builds(
    Config,
    file=st.none() | values_of(Path),  # named in the header comment
    **{f.name: setting_values(f, hint) for f, hint in schema_fields(Config)},
).filter(lambda config: not validate(config))  # the checks across keys, which load_file runs too


def load_text(text: str) -> Config:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "appliance.toml"
        path.write_text(text, encoding="utf-8")
        return load_file(path).replace(file=None)


def load_filter() -> typing.Callable[[Any], str]:
    """The filter as Ansible finds it: plain Python in the role's filter_plugins/."""
    spec = importlib.util.spec_from_file_location("toml_fragment", FILTER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()["toml_fragment"]


toml_fragment = load_filter()

# Explaining a failure of a value as large as a whole configuration takes minutes.
round_trips = settings(max_examples=200, deadline=None, phases=set(Phase) - {Phase.explain})


@round_trips
@given(config=CONFIGS)
def test_config_show_reads_back_as_the_configuration_shown(config):
    assert load_text(to_toml(config)) == config.replace(file=None)


@round_trips
@given(config=CONFIGS)
def test_a_fragment_the_roles_write_reads_back_as_the_configuration_given(config):
    # What a role gives: the configuration as YAML would hold it, secrets and paths as strings.
    settings_mapping = tomllib.loads(as_toml(config))
    assert load_text(toml_fragment(settings_mapping)) == config.replace(file=None)


def test_a_fragment_leaves_out_keys_without_a_value():
    fragment = toml_fragment(
        {"data_dir": None, "auth": {"token": None, "runner_token": "file:/etc/appliance/secrets/runner"}}
    )
    assert tomllib.loads(fragment) == {"auth": {"runner_token": "file:/etc/appliance/secrets/runner"}}
