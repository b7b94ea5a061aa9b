"""``/metrics``' text, read back by a strict reader of Prometheus' text exposition format 0.0.4
(no client library is installed: ``parse`` is that reader), and the figures made from plain data."""

from __future__ import annotations

import math
import re

import pytest

from appliance import metrics
from appliance.lamp.keys import COLOUR_KEYS
from appliance.monitor.states import State

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}

Series = tuple[str, frozenset[tuple[str, str]]]


class FormatError(AssertionError):
    pass


def parse(text: str) -> tuple[dict[Series, float], dict[str, str]]:
    """Every sample as {(name, labels): value}, and each family's type. Fails on anything the format
    does not allow: a sample before its TYPE, a TYPE twice, a series twice, a bad escape."""
    samples: dict[Series, float] = {}
    types: dict[str, str] = {}
    if not text.endswith("\n"):
        raise FormatError("the text must end with a line feed")
    for number, line in enumerate(text.split("\n")[:-1], 1):
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if parts[1:2] == ["TYPE"]:
                name, kind = parts[2], parts[3]
                if not METRIC_NAME.fullmatch(name) or kind not in TYPES or name in types:
                    raise FormatError(f"line {number}: bad or repeated TYPE: {line!r}")
                types[name] = kind
            elif parts[1:2] == ["HELP"] and "\\" in re.sub(
                r"\\[\\n]", "", parts[3] if len(parts) > 3 else ""
            ):
                raise FormatError(f"line {number}: a HELP escape other than \\\\ and \\n: {line!r}")
            continue
        name, labels, value = _sample(line, number)
        if name not in types:
            raise FormatError(f"line {number}: {name} has no TYPE before its samples")
        key = (name, frozenset(labels.items()))
        if key in samples:
            raise FormatError(f"line {number}: the series {name}{labels} is there twice")
        samples[key] = value
    return samples, types


def _sample(line: str, number: int) -> tuple[str, dict[str, str], float]:
    name = METRIC_NAME.match(line)
    if name is None:
        raise FormatError(f"line {number}: no metric name: {line!r}")
    position, labels = name.end(), {}
    if line[position : position + 1] == "{":
        position += 1
        while line[position] != "}":
            label = LABEL_NAME.match(line, position)
            if label is None or line[label.end() : label.end() + 2] != '="':
                raise FormatError(f"line {number}: bad label at {position}: {line!r}")
            position, value = label.end() + 2, []
            while line[position] != '"':
                if line[position] == "\\":
                    if line[position + 1] not in ESCAPES:
                        raise FormatError(f"line {number}: bad escape in {line!r}")
                    value.append(ESCAPES[line[position + 1]])
                    position += 2
                else:
                    value.append(line[position])
                    position += 1
            if label.group() in labels:
                raise FormatError(f"line {number}: label {label.group()} twice")
            labels[label.group()] = "".join(value)
            position += 1
            if line[position] == ",":
                position += 1
        position += 1
    rest = line[position:]
    if not rest.startswith(" ") or len(rest.split()) != 1:
        raise FormatError(f"line {number}: expected one value after the series: {line!r}")
    text = rest.strip()
    if text not in ("NaN", "+Inf", "-Inf") and not re.fullmatch(r"-?[0-9.]+(e[+-]?[0-9]+)?", text):
        raise FormatError(f"line {number}: not a value: {text!r}")
    return name.group(), labels, float(text)


def value(samples: dict[Series, float], name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def test_label_values_and_help_are_escaped_and_read_back_as_they_were():
    awkward = 'a "quoted" \\ back\nslash'
    family = metrics.Family("x_total", metrics.COUNTER, 'counts "things"\\ per\nline').add(3, name=awkward)
    text = metrics.render([family])
    assert '# HELP x_total counts "things"\\\\ per\\nline\n' in text
    samples, types = parse(text)
    assert samples == {("x_total", frozenset({("name", awkward)})): 3.0}
    assert types == {"x_total": "counter"}


def test_a_repeated_series_keeps_its_first_sample_and_values_are_written_as_the_format_says():
    family = metrics.Family("y", metrics.GAUGE, "y").add(1, a="1").add(2, a="1").add(True, a="2")
    family.add(float("inf"), a="3").add(float("nan"), a="4").add(0.25, a="5")
    samples, _ = parse(metrics.render([family]))
    assert [value(samples, "y", a=str(n)) for n in (1, 2, 3, 5)] == [1, 1, math.inf, 0.25]
    assert math.isnan(value(samples, "y", a="4"))


@pytest.mark.parametrize(
    "bad",
    [
        'y{a="\\q"} 1\n',
        "y 1\n",
        "# HELP y a\\q\n# TYPE y gauge\ny 1\n",
        '# TYPE y gauge\ny{a="1"} 1\ny{a="1"} 2\n',
        "# TYPE y gauge\ny 1 2 3\n",
    ],
)
def test_the_reader_refuses_what_the_format_does_not_allow(bad):
    with pytest.raises(FormatError):
        parse(bad)


NO_BUILDS = {"tests": {}, "machines": 0, "runs": 0}


def figures(report=None, builds=None, stack=None) -> dict[Series, float]:
    text = metrics.render(
        metrics.figures(
            version="1.2.3+src.abc",
            builds=builds or {},
            progress=NO_BUILDS,
            report=report,
            stack=stack or {"reachable": False, "programs": []},
        )
    )
    return parse(text)[0]


def test_before_any_report_no_colour_and_no_state_is_shown():
    samples = figures()
    assert value(samples, "appliance_info", version="1.2.3+src.abc") == 1
    assert value(samples, "appliance_monitor_reported") == 0
    assert {
        v for (name, _), v in samples.items() if name in ("appliance_lamp_colour", "appliance_lamp_state")
    } == {0}
    assert sum(1 for name, _ in samples if name == "appliance_lamp_state") == len(State)


def test_a_driver_of_another_shape_is_left_out_not_an_error():
    report = {
        "state": "success",
        "colour": "MAUVE",  # a colour the configuration chose: shown, though no default has it
        "driver": {"backends": ["lirc", {"name": 3, "ok": True}, {"name": "gpio", "ok": "yes"}]},
        "sources": [],
        "received_at": "not a time",
    }
    samples = figures(report)
    assert value(samples, "appliance_lamp_colour", colour="MAUVE") == 1
    assert value(samples, "appliance_lamp_colour", colour="GREEN") == 0
    assert value(samples, "appliance_lamp_backend_ok", backend="gpio") == 0
    assert [name for name, _ in samples if name == "appliance_lamp_backend_ok"] == [
        "appliance_lamp_backend_ok"
    ]
    assert ("appliance_monitor_report_timestamp_seconds", frozenset()) not in samples


def test_the_queue_is_the_queued_builds_of_every_repository():
    builds = {"app": {"queued": 2, "passed": 5}, "lib": {"queued": 1, "failed": 0}}
    samples = figures(builds=builds)
    assert value(samples, "appliance_ci_queue_length") == 3
    assert value(samples, "appliance_ci_builds", repo="app", status="passed") == 5


def test_every_colour_the_configuration_may_name_is_a_series_before_it_is_shown():
    samples = figures()
    assert {labels for name, labels in samples if name == "appliance_lamp_colour"} == {
        frozenset({("colour", key)}) for key in COLOUR_KEYS
    }
