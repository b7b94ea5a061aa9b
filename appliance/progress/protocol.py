"""The JSON test machines send, in the seed's shapes, checked on the way in: a malformed report is
a 400 naming the field, never a half-recorded run. Every string's length and every number's range
is bounded, and so is a dry run's size, so that no report can fill the database or break a page.

Timestamps come as the seed sends them, naive (``2018-12-30 13:01:57.461401``, taken in the
server's local zone, since the seed's machines sent their local time), or as ISO 8601 with a
zone; either is kept as UTC seconds and the offset of the machine's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.ci.limits import IDS, within
from appliance.ci.protocol import ProtocolError
from appliance.progress.statuses import RESULTS, RUNNING

# The seed's column sizes, and bounds of our own for what it left unbounded.
MAX_NAME = 256
MAX_PATH = 1024
MAX_SCRIPT = 256 * 1024  # one script's source, in characters
MAX_SCRIPTS = 1024 * 1024  # every script of a dry run together
MAX_TESTS = 5000  # tests of a dry run, every scenario's together
MAX_SCENARIOS = 1000
MAX_TIMESTAMP = 64
TIMES = (0, 253_402_300_799)  # 1970 to the end of 9999, as ISO 8601 shows it

KINDS = {str: "a string", int: "an integer", list: "a list", dict: "an object"}


@dataclass(frozen=True)
class Moment:
    at: float  # seconds since the epoch, UTC
    offset: int  # the machine clock's offset east of UTC, in seconds


@dataclass(frozen=True)
class Script:
    file_name: str
    file_path: str
    script: str


@dataclass(frozen=True)
class ScenarioSpec:
    script: Script
    tests: list[Script]


@dataclass(frozen=True)
class DryRun:
    machine_name: str
    timestamp: Moment
    master: Script
    scenarios: list[ScenarioSpec]


@dataclass(frozen=True)
class Report:
    """A start (``status`` running) or a stop; ``run`` and ``test`` pick one test exactly."""

    machine_name: str
    file_name: str
    file_path: str
    moment: Moment | None
    status: str
    run: int | None = None
    test: int | None = None


def _get(obj: Any, key: str, kind: type, where: str, default: Any = ...) -> Any:
    if not isinstance(obj, dict):
        raise ProtocolError(f"{where.rstrip('.') or 'the body'} must be a JSON object")
    value = obj.get(key)
    if value is None:
        if default is ...:
            raise ProtocolError(f"{where}{key} is required")
        return default
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ProtocolError(f"{where}{key} must be {KINDS[kind]}, got {value!r:.40}")
    return value


def _text(obj: Any, key: str, where: str, longest: int, default: Any = ...) -> Any:
    value = _get(obj, key, str, where, default)
    if isinstance(value, str) and len(value) > longest:
        raise ProtocolError(f"{where}{key} is longer than {longest} characters")
    return value


def _id(obj: Any, key: str) -> int | None:
    value = _get(obj, key, int, "", None)
    if value is not None and not within(value, IDS):
        raise ProtocolError(f"{key} must be between {IDS[0]} and {IDS[1]}, got {value}")
    return value


def moment(obj: Any, key: str, required: bool) -> Moment | None:
    """``key`` as a time: naive local (the seed's form) or ISO 8601 with a zone."""
    value = _text(obj, key, "", MAX_TIMESTAMP, ... if required else None)
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            parsed = parsed.astimezone()  # the server's local zone, as the seed's server took it
        at, offset = parsed.timestamp(), parsed.utcoffset()
    except (ValueError, OverflowError, OSError):
        raise ProtocolError(
            f"{key} must be a time like 2018-12-30 13:01:57.461401 or 2018-12-30T13:01:57+01:00, "
            f"got {value!r:.40}"
        ) from None
    if not within(at, TIMES) or offset is None:
        raise ProtocolError(f"{key} must be between 1970 and 9999, got {value!r:.40}")
    return Moment(at, int(offset.total_seconds()))


def _script(obj: Any, where: str) -> Script:
    return Script(
        file_name=_text(obj, "file_name", where, MAX_NAME),
        file_path=_text(obj, "file_path", where, MAX_PATH),
        script=_text(obj, "script", where, MAX_SCRIPT, ""),
    )


def dry_run(body: Any) -> DryRun:
    """``{machine_name, timestamp, master_scenario: {file_name, file_path, script, scenarios:
    [{file_name, file_path, script, tests: [{file_name, file_path, script}]}]}}``."""
    machine_name = _text(body, "machine_name", "", MAX_NAME)
    timestamp = moment(body, "timestamp", required=True)
    master_body = _get(body, "master_scenario", dict, "")
    master = _script(master_body, "master_scenario.")
    items = _get(master_body, "scenarios", list, "master_scenario.", [])
    if len(items) > MAX_SCENARIOS:
        raise ProtocolError(f"a dry run has at most {MAX_SCENARIOS} scenarios")
    scenarios, test_count, script_size = [], 0, len(master.script)
    for index, item in enumerate(items):
        where = f"master_scenario.scenarios[{index}]."
        scenario = _script(item, where)
        tests = [
            _script(test, f"{where}tests[{number}].")
            for number, test in enumerate(_get(item, "tests", list, where, []))
        ]
        test_count += len(tests)
        script_size += len(scenario.script) + sum(len(test.script) for test in tests)
        if test_count > MAX_TESTS:
            raise ProtocolError(f"a dry run has at most {MAX_TESTS} tests")
        if script_size > MAX_SCRIPTS:
            raise ProtocolError(f"a dry run's scripts have at most {MAX_SCRIPTS} characters together")
        scenarios.append(ScenarioSpec(scenario, tests))
    if not machine_name:
        raise ProtocolError("machine_name must not be empty")
    return DryRun(machine_name, timestamp, master, scenarios)


def _report(body: Any, time_key: str, status: str) -> Report:
    run, test = _id(body, "run"), _id(body, "test")
    if (run is None) != (test is None):
        raise ProtocolError("run and test go together: send both, or neither")
    return Report(
        machine_name=_text(body, "machine_name", "", MAX_NAME),
        file_name=_text(body, "file_name", "", MAX_NAME),
        file_path=_text(body, "file_path", "", MAX_PATH),
        moment=moment(body, time_key, required=False),
        status=status,
        run=run,
        test=test,
    )


def start_report(body: Any) -> Report:
    """``{machine_name, file_path, file_name, timestamp_start}``, optionally ``run`` and ``test``."""
    return _report(body, "timestamp_start", RUNNING)


def stop_report(body: Any) -> Report:
    """``{machine_name, file_path, file_name, status, timestamp_stop}``, optionally ``run``, ``test``."""
    status = _text(body, "status", "", 16)
    if status not in RESULTS:
        raise ProtocolError(f"status must be one of {', '.join(RESULTS)}, got {status!r}")
    return _report(body, "timestamp_stop", status)
