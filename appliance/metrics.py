"""``/metrics``: the appliance's figures in Prometheus' text exposition format (version 0.0.4).

``figures`` turns plain data (the CI's build counts, what the progress API received, the latest
monitor report, the stack's state) into metric families, ``render`` writes them out. Nothing here
reads a database or knows Flask: the server gathers the data, so the figures can be tested from
plain dictionaries and the format on its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from appliance.ci.statuses import QUEUED
from appliance.lamp.keys import COLOUR_KEYS
from appliance.monitor.states import State

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
GAUGE, COUNTER = "gauge", "counter"


@dataclass
class Family:
    """One metric: its name, type and help, and its samples as (labels, value)."""

    name: str
    type: str
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> Family:
        self.samples.append((labels, value))
        return self


def escape_label_value(value: str) -> str:
    """A label value as the format quotes it: backslash, double quote and line feed escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """A HELP text: backslash and line feed escaped (a double quote stays as it is)."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    if isinstance(value, int):  # a bool too: 1 or 0
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render(families: Iterable[Family]) -> str:
    """The exposition text. A label set met twice in one family (two sources of one name in an
    odd report) keeps its first sample: a repeated series would make the whole scrape fail."""
    lines = []
    for family in families:
        lines.append(f"# HELP {family.name} {escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        seen: set[tuple[tuple[str, str], ...]] = set()
        for labels, value in family.samples:
            key = tuple(sorted(labels.items()))
            if key in seen:
                continue
            seen.add(key)
            inner = ",".join(f'{name}="{escape_label_value(text)}"' for name, text in key)
            series = f"{family.name}{{{inner}}}" if inner else family.name
            lines.append(f"{series} {format_value(value)}")
        lines.append("")  # keeps each family apart for a reader's eye; the format allows it
    return "\n".join(lines)


def figures(
    *,
    version: str,
    builds: Mapping[str, Mapping[str, int]],
    progress: Mapping[str, Any],
    report: Mapping[str, Any] | None,
    stack: Mapping[str, Any],
) -> list[Family]:
    """Every family ``/metrics`` shows. ``builds`` is ``ci.views.Views.build_counts()``,
    ``progress`` ``progress.views.Views.received()``, ``report`` the latest monitor report's JSON
    (or None before the first), ``stack`` ``stack.stack_state()``."""
    return [
        Family("appliance_info", GAUGE, "The appliance's version.").add(1, version=version),
        *ci_figures(builds),
        *progress_figures(progress),
        *monitor_figures(report),
        *stack_figures(stack),
    ]


def ci_figures(builds: Mapping[str, Mapping[str, int]]) -> list[Family]:
    counts = Family("appliance_ci_builds", GAUGE, "Builds of each configured repository, by status.")
    for repo, by_status in builds.items():
        for status, count in by_status.items():
            counts.add(count, repo=repo, status=status)
    queue = Family("appliance_ci_queue_length", GAUGE, "Builds waiting for a runner.")
    queue.add(sum(by_status.get(QUEUED, 0) for by_status in builds.values()))
    return [counts, queue]


def progress_figures(progress: Mapping[str, Any]) -> list[Family]:
    tests = Family("appliance_progress_tests", GAUGE, "Tests the progress API was sent, by status.")
    for status, count in progress["tests"].items():
        tests.add(count, status=status)
    return [
        Family("appliance_progress_machines", GAUGE, "Test machines the progress API knows.").add(
            progress["machines"]
        ),
        Family("appliance_progress_dry_runs_total", COUNTER, "Dry runs the progress API received.").add(
            progress["runs"]
        ),
        tests,
    ]


def monitor_figures(report: Mapping[str, Any] | None) -> list[Family]:
    """The lamp and the sources as the latest report says. The report was checked on the way in
    (``monitor/report.py``), but its driver is the monitor's own object: anything of another
    shape in it is left out, never an error."""
    reported = Family("appliance_monitor_reported", GAUGE, "1 once the monitor has reported since start.")
    received = Family(
        "appliance_monitor_report_timestamp_seconds", GAUGE, "When the latest monitor report arrived."
    )
    colours = Family("appliance_lamp_colour", GAUGE, "1 for the colour the lamp shows, 0 for the others.")
    states = Family("appliance_lamp_state", GAUGE, "1 for the state the lamp shows, 0 for the others.")
    backends = Family("appliance_lamp_backend_ok", GAUGE, "1 while a lamp backend can send, else 0.")
    errors = Family(
        "appliance_monitor_source_error", GAUGE, "1 while a status source cannot be read, else 0."
    )
    families = [reported, received, colours, states, backends, errors]
    reported.add(report is not None)
    shown_colour = report["colour"] if report else None
    # Every key with a colour, which is what ``[monitor] colours`` may name; and the one shown.
    for colour in sorted({*COLOUR_KEYS, *([shown_colour] if shown_colour else [])}):
        colours.add(colour == shown_colour, colour=colour)
    for state in State:
        states.add(report is not None and report["state"] == state.value, state=state.value)
    if report is None:
        return families
    try:
        received.add(datetime.fromisoformat(report["received_at"]).timestamp())
    except (TypeError, ValueError):
        pass
    driver = report.get("driver")
    listed = driver.get("backends") if isinstance(driver, Mapping) else None
    for backend in listed if isinstance(listed, list) else []:
        if isinstance(backend, Mapping) and isinstance(backend.get("name"), str):
            backends.add(backend.get("ok") is True, backend=backend["name"])
    for source in report["sources"]:
        errors.add(source["error"] is not None, source=source["name"], kind=source["kind"])
    return families


def stack_figures(stack: Mapping[str, Any]) -> list[Family]:
    reachable = Family("appliance_supervisor_reachable", GAUGE, "1 while supervisord answers on its socket.")
    running = Family("appliance_program_running", GAUGE, "1 while a program of the stack is RUNNING, else 0.")
    reachable.add(bool(stack["reachable"]))
    for program in stack["programs"]:
        running.add(program["state"] == "RUNNING", program=program["name"])
    return [reachable, running]
