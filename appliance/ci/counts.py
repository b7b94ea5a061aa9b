"""Test counts of a build: from JUnit XML when the command wrote one, else from the summary that
``unittest`` prints (the default command), else none.

Where the runner looks for JUnit XML, relative to the checkout: ``junit.xml``, ``report.xml``,
``test-results/*.xml`` and ``test-reports/*.xml`` (pytest: ``--junitxml=junit.xml``).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

JUNIT_PATTERNS = ("junit.xml", "report.xml", "test-results/*.xml", "test-reports/*.xml")
COUNT_NAMES = ("tests", "failures", "errors", "skipped")

_RAN = re.compile(rb"^Ran (\d+) tests? in ", re.MULTILINE)
_SUMMARY = re.compile(rb"^(OK|FAILED)(?: \(([^)]*)\))?\s*$", re.MULTILINE)


def junit_files(checkout: Path) -> dict[Path, int]:
    """The JUnit XML files there now, with their modification times (ns). A symbolic link the
    build made to somewhere outside its checkout is not followed: the runner may read files the
    build may not (with ``[ci] build_user``)."""
    found = {}
    inside = checkout.resolve()
    for pattern in JUNIT_PATTERNS:
        for path in checkout.glob(pattern):
            if path.is_file() and path.resolve().is_relative_to(inside):
                found[path] = path.stat().st_mtime_ns
    return found


def junit_counts(checkout: Path, before: dict[Path, int] | None = None) -> dict[str, int] | None:
    """Summed over the JUnit files the command wrote: new or changed since ``before``
    (a committed report is not the build's)."""
    before = before or {}
    files = sorted(path for path, mtime in junit_files(checkout).items() if before.get(path) != mtime)
    totals = dict.fromkeys(COUNT_NAMES, 0)
    found = False
    for path in files:
        try:
            # The file comes from the build, which already runs any code it likes on this runner.
            root = ET.parse(path).getroot()  # noqa: S314
        except (ET.ParseError, OSError):
            continue
        suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
        for suite in suites:
            if suite.find("testsuite") is not None:
                continue  # a suite of suites: its leaves are counted
            found = True
            for name in COUNT_NAMES:
                totals[name] += _int(suite.get(name) or (suite.get("skip") if name == "skipped" else None))
    return totals if found else None


def unittest_counts(log_tail: bytes) -> dict[str, int] | None:
    """From ``Ran 3 tests in 0.01s`` and ``FAILED (failures=1, errors=1, skipped=1)``."""
    ran = list(_RAN.finditer(log_tail))
    summary = list(_SUMMARY.finditer(log_tail))
    if not ran or not summary:
        return None
    counts = dict.fromkeys(COUNT_NAMES, 0)
    counts["tests"] = int(ran[-1].group(1))
    for part in (summary[-1].group(2) or b"").split(b","):
        key, _, value = part.strip().partition(b"=")
        name = key.decode("ascii", "replace")
        if name in counts:
            counts[name] = _int(value.decode("ascii", "replace"))
    return counts


def _int(value: str | None) -> int:
    try:
        return int(float(value)) if value else 0
    except ValueError:
        return 0
