"""The [monitor] section: sources as arrays of tables, the colour table, and their checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance import config as config_module
from appliance.config import ConfigError, Secret
from appliance.monitor.program import colour_table, make_sources
from appliance.monitor.sources.http import Http
from appliance.monitor.states import DEFAULT_COLOURS, State

FULL = """
[monitor]
stale_after = 90

[monitor.colours]
failure = "ORANGE"
unreachable = "WHITE"

[[monitor.octopus]]
name = "integration tests"
url = "https://octopus.example.com/"
space = "Spaces-1"
project = "Projects-21"
environment = "Environments-3"
api_key = "env:OCTOPUS_API_KEY"
interval = 5
steps = { "Acquire packages" = "acquiring", "Deploy web" = "deploying", "System tests" = "testing" }

[[monitor.octopus]]
url = "https://octopus.example.com/"
project = "Projects-22"
environment = "Environments-3"

[[monitor.cctray]]
url = "https://ci.example.com/cc.xml"
projects = "app"
username = "lamp"
password = "file:/etc/appliance/cc-password"

[[monitor.github]]
owner = "team"
repo = "app"
workflow = "ci.yml"
token = "env:GITHUB_TOKEN"

[[monitor.gitlab]]
project = "group/app"
ref = "release"
timeout = 3

[[monitor.jenkins]]
job = "https://jenkins.example.com/job/app/"
username = "lamp"
token = "env:JENKINS_TOKEN"
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "appliance.toml"
    path.write_text(text, encoding="utf-8")
    return config_module.load(path)


def test_every_kind_of_source_in_one_file(tmp_path):
    monitor = load(tmp_path, FULL).monitor
    assert monitor.stale_after == 90
    assert colour_table(monitor.colours) == {
        **DEFAULT_COLOURS,
        State.FAILURE: "ORANGE",
        State.UNREACHABLE: "WHITE",
    }
    first = monitor.octopus[0]
    assert (first.interval, first.timeout, first.api_key) == (5, 10, Secret("env:OCTOPUS_API_KEY"))
    assert first.steps["Deploy web"] == "deploying"
    assert monitor.octopus[1].steps == {
        "Acquire packages": "acquiring",
        "Deploy": "deploying",
        "Run tests": "testing",
    }
    assert monitor.cctray[0].projects == "app"
    assert (monitor.github[0].api, monitor.github[0].branch) == ("https://api.github.com", "main")
    http = Http()
    try:
        sources = make_sources(monitor, http)
    finally:
        http.close()
    assert [(s.kind, s.name, s.interval) for s in sources] == [
        ("octopus", "integration tests", 5),
        ("octopus", "Projects-22 → Environments-3", 30),
        ("cctray", "cc.xml on ci.example.com", 30),
        ("github", "team/app ci.yml", 30),
        ("gitlab", "group/app release", 30),
        ("jenkins", "app", 30),
    ]


def test_config_show_writes_the_sources_back_as_arrays_of_tables(tmp_path):
    config = load(tmp_path, FULL)
    shown = config_module.to_toml(config)
    assert "[[monitor.octopus]]" in shown
    assert 'api_key = "env:OCTOPUS_API_KEY"\n' in shown
    again = load(tmp_path, shown)
    assert again.monitor == config.monitor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[monitor.colours]\nfailure = "MAUVE"\n',
            "monitor.colours: failure = 'MAUVE': a colour must be one of RED,",
        ),
        ('[monitor.colours]\nfailure = "ON"\n', "monitor.colours: failure = 'ON': a colour must be one of"),
        (
            '[monitor.colours]\nbroken = "RED"\n',
            "monitor.colours: broken: not a state (states: success, failure,",
        ),
        (
            '[[monitor.octopus]]\nsteps = { "Deploy" = "shipping" }\n',
            "monitor.octopus[0].steps: 'Deploy' = 'shipping': a phase must be one of waiting, acquiring,",
        ),
        ("[[monitor.jenkins]]\ninterval = 0\n", "monitor.jenkins[0].interval: must be greater than 0"),
        ('[[monitor.github]]\ntoken = "ghp_123"\n', 'monitor.github[0].token: expected "env:VARIABLE"'),
        ("[[monitor.gitlab]]\nbranch = 'main'\n", "monitor.gitlab[0].branch: unknown key"),
        ("[monitor]\nstale_after = -1\n", "monitor.stale_after: must be greater than 0"),
    ],
)
def test_a_bad_monitor_setting_names_the_key(tmp_path, text, expected):
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    assert expected in str(raised.value)
