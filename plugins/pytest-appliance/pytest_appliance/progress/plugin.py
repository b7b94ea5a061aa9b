"""The pytest side: options and ini keys, and the hooks that turn a session into reports.

Inert unless ``--progress-url`` (or the ``progress_url`` ini key) is given. The collection is the
dry run: the session is the master scenario, each file a scenario, each item a test. Each test's
start is sent when pytest starts it, its stop when its teardown is done, with one status for its
phases. Reports go through ``sender.Sender``, so a tracker that is down or slow costs the session
at most ``FLUSH`` seconds at its end and one line in the summary.

Under pytest-xdist the controller reports, the workers stay inert: the dry run is the first
worker's collection (``pytest_xdist_node_collection_finished``), and the starts, phases and ends
the workers relay come through the same hooks. Tests then run at once while the tracker shows one
running test per run, so they go through ``one_running.OneRunning``: at most one test shown
running, the others held and sent, with their real times, once none is.

An orchestrated run (an item whose ``pytest_orchestration_plan`` is a plan) is a scenario of its
own instead, named after the item, its planned firings its tests, each reported as it fires
(``orchestrated.py``).
"""

from __future__ import annotations

import os
import shlex
import socket
from collections import defaultdict, deque
from collections.abc import Sequence
from datetime import datetime
from itertools import islice
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pytest_appliance.progress.one_running import OneRunning
from pytest_appliance.progress.orchestrated import MAX_FIRINGS, RUN_TEST, OrchestratedReport
from pytest_appliance.progress.sender import DRY_RUN, START, STOP, Report, Sender

TOKEN_ENV = "APPLIANCE_PROGRESS_TOKEN"  # noqa: S105 (a variable's name)
FLUSH = 2.0  # seconds the session's end waits for the last reports, at most

# The tracker's limits (docs/api.md): longer names are cut, not refused.
MAX_NAME = 256
MAX_PATH = 1024
MAX_TESTS = 5000  # in one dry run


def pytest_addoption(parser):
    group = parser.getgroup("progress", "live progress reports to the appliance's tracker (pytest-appliance)")
    group.addoption(
        "--progress-url",
        metavar="URL",
        help="report this session as it runs to the tracker at URL (http://pi.local:8080); off without it",
    )
    group.addoption(
        "--progress-machine",
        metavar="NAME",
        help="the machine the tracker files the session under (default: this host's name)",
    )
    group.addoption(
        "--progress-token-file",
        metavar="PATH",
        help=f"file holding the tracker's progress token (else ${TOKEN_ENV}, else none: anonymous reports)",
    )
    parser.addini("progress_url", "report sessions to the tracker at this URL (as --progress-url)")
    parser.addini("progress_machine", "the machine name sessions are reported under (as --progress-machine)")
    parser.addini("progress_token_file", "file holding the progress token, relative to the ini file")


def _setting(config, name: str) -> str:
    return config.getoption(name) or config.getini(name) or ""


def _token(config) -> str | None:
    """The token from a file (the option's, else the ini key's), else from the environment: never
    from the command line, where every user of the machine could read it."""
    path = config.getoption("progress_token_file")
    if not path and config.getini("progress_token_file"):
        base = config.inipath.parent if config.inipath else config.rootpath
        path = base / config.getini("progress_token_file")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip() or None
        except OSError as error:
            raise pytest.UsageError(f"progress token file: {error}") from None
    return os.environ.get(TOKEN_ENV, "").strip() or None


def pytest_configure(config):
    url = _setting(config, "progress_url")
    if not url or hasattr(config, "workerinput"):  # an xdist worker: its controller reports
        return
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise pytest.UsageError(f"--progress-url: {url!r} is not an http(s) URL")
    machine = _setting(config, "progress_machine") or socket.gethostname()
    reporter = ProgressReporter(config, Sender(url, _token(config)), machine[:MAX_NAME])
    config.pluginmanager.register(reporter, "appliance-progress")


def _now() -> str:
    return datetime.now().astimezone().isoformat()


def _split(nodeid: str) -> tuple[str, str]:
    """(file, name in the file) of a node id."""
    path, _, name = nodeid.partition("::")
    return path[:MAX_PATH], (name or nodeid)[-MAX_NAME:]


def status(reports: dict[str, pytest.TestReport]) -> str:
    """One tracker status for a test's phases. A skip is ``warning``: it did not pass, yet it is
    no failure; ``cancelled`` would cancel the rest of the run too."""
    setup, call, teardown = (reports.get(when) for when in ("setup", "call", "teardown"))
    if setup and setup.failed:
        return "error"
    if call and call.failed:
        return "failed"
    if teardown and teardown.failed:
        return "error"
    if any(report.skipped for report in reports.values()):
        return "warning"  # skipped, or xfailed
    return "passed" if call else "unknown"


class ProgressReporter:
    def __init__(self, config, sender: Sender, machine: str):
        self.config = config
        self.sender = sender
        self.machine = machine
        self.places: dict[str, deque[int]] = {}  # node id -> its places in the dry run, in order
        self.running: dict[str, int] = {}  # node id -> its place, from its start to its end
        self.phases: dict[str, dict[str, pytest.TestReport]] = defaultdict(dict)
        self.tests: list[tuple[str, str]] = []  # the dry run's tests, (file, name)
        self.listed = False  # the dry run is sent
        self.items = OneRunning(sender, self._make, _now)  # the tests of the items not orchestrated
        self.orchestrated: dict[str, OrchestratedReport] = {}  # node id -> its firings' reports
        self.unlisted: list[str] = []  # orchestrated items whose plan was cut, as the summary says

    def _make(self, path: str, index: int, **body) -> Report:
        file_path, file_name = self.tests[index]
        body = {"machine_name": self.machine, "file_path": file_path, "file_name": file_name, **body}
        return Report(path, body, index)

    def _report(self, path: str, index: int, **body) -> None:
        self.sender.send(self._make(path, index, **body))

    def _plans(self, items) -> dict[str, tuple[str, object]]:
        """The orchestration plugin's firing plans of the orchestrated items, with their names, by
        node id."""
        plan_of = getattr(self.config.hook, "pytest_orchestration_plan", None)
        if plan_of is None:  # the orchestration plugin is not loaded
            return {}
        return {item.nodeid: (item.name, plan) for item in items if (plan := plan_of(item=item)) is not None}

    def _list_tests(self, file_path: str, names: list[str]) -> list[dict]:
        """Give ``names`` their places in the dry run; their entries in it."""
        tests = []
        for name in names:
            self.tests.append((file_path, name))
            tests.append({"file_name": name, "file_path": file_path, "script": ""})
        return tests

    def _orchestrated(self, nodeid: str, name: str, plan, budget: int) -> dict:
        """The scenario of an orchestrated item: its first planned firings (at most ``budget``),
        then its run test."""
        file_path = _split(nodeid)[0]
        firings = list(islice(plan, max(budget, 0)))
        planned = len(plan)
        if len(firings) < planned:
            self.unlisted.append(f"{len(firings)} of the {planned} planned firings of {name}")
        places = {firing.key: len(self.tests) + number for number, firing in enumerate(firings)}
        tests = self._list_tests(file_path, [firing.name[:MAX_NAME] for firing in firings] + [RUN_TEST])
        self.orchestrated[nodeid] = OrchestratedReport(
            self.sender, self._make, _now, places, len(self.tests) - 1
        )
        return {"file_name": name[:MAX_NAME], "file_path": file_path, "script": "", "tests": tests}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        if session.items and not self.config.option.collectonly:
            self._dry_run([item.nodeid for item in session.items], self._plans(session.items))

    # From pytest-xdist, on its controller: each worker's collection, the same ids for each.
    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids: Sequence[str]):
        if ids and not self.listed and not self.config.option.collectonly:
            self._dry_run(list(ids), {})

    def _dry_run(self, nodeids: list[str], plans: dict[str, tuple[str, object]]) -> None:
        """Send the dry run of the items ``nodeids``, those in ``plans`` orchestrated; once."""
        if self.listed:
            return
        self.listed = True
        # Each file a scenario, in the order of its first item; each orchestrated item one of its own.
        scenarios: dict[str, list[str]] = {}
        for nodeid in nodeids:
            key = nodeid if nodeid in plans else _split(nodeid)[0]
            scenarios.setdefault(key, []).append(nodeid)
        # Every other item, and each orchestrated item's run test, has a place; the firings share the rest.
        budget = MAX_TESTS - len(nodeids)
        listed = []
        for key, ids in scenarios.items():
            if key in plans:
                cap = min(MAX_FIRINGS, budget)
                listed.append(self._orchestrated(key, *plans[key], cap))
                budget -= len(listed[-1]["tests"]) - 1
                continue
            for number, nodeid in enumerate(ids):
                self.places.setdefault(nodeid, deque()).append(len(self.tests) + number)
            tests = self._list_tests(key, [_split(nodeid)[1] for nodeid in ids])
            name = key.rsplit("/", 1)[-1][-MAX_NAME:]
            listed.append({"file_name": name, "file_path": key, "script": "", "tests": tests})
        root = self.config.rootpath
        command = shlex.join(["pytest", *self.config.invocation_params.args])
        master = {
            "file_name": (root.name or str(root))[:MAX_NAME],
            "file_path": str(root)[:MAX_PATH],
            "script": command[: 256 * 1024],
            "scenarios": listed,
        }
        self.sender.start()
        self.sender.send(
            Report(DRY_RUN, {"machine_name": self.machine, "timestamp": _now(), "master_scenario": master})
        )

    def pytest_runtest_logstart(self, nodeid):
        if nodeid in self.orchestrated:
            self.orchestrated[nodeid].begin()
            return
        places = self.places.get(nodeid)
        if not places or nodeid in self.running:  # not listed, or (xdist --dist each) running elsewhere
            return
        self.running[nodeid] = index = places.popleft()
        self.items.started(index)

    def pytest_runtest_logreport(self, report):
        if report.nodeid in self.running or report.nodeid in self.orchestrated:
            self.phases[report.nodeid][report.when] = report

    def pytest_runtest_logfinish(self, nodeid):
        if nodeid in self.orchestrated:
            self.orchestrated[nodeid].end(status(self.phases.pop(nodeid, {})))
            return
        index = self.running.pop(nodeid, None)
        if index is not None:
            self.items.finished(index, status(self.phases.pop(nodeid, {})))

    # From pytest-xdist, on its controller: a worker died running ``crashitem``, which never ends.
    @pytest.hookimpl(optionalhook=True, trylast=True)
    def pytest_handlecrashitem(self, crashitem, report, sched):
        index = self.running.pop(crashitem, None)
        if index is not None:
            self.phases.pop(crashitem, None)
            self.items.finished(index, "failed" if report.failed else "unknown")

    # From the orchestration plugin, called in event threads: OneRunning takes its lock.
    @pytest.hookimpl(optionalhook=True)
    def pytest_orchestration_firing_started(self, item, firing):
        report = self.orchestrated.get(item.nodeid)
        if report is not None:
            report.started(firing.key)

    @pytest.hookimpl(optionalhook=True)
    def pytest_orchestration_firing_finished(self, item, firing, outcome):
        report = self.orchestrated.get(item.nodeid)
        if report is not None:
            report.finished(firing.key, outcome.status)

    def pytest_sessionfinish(self, session):
        if not self.listed:
            return
        # A session stopped early (-x, Ctrl-C) cancels its tests that never ran: a cancelled stop
        # of the test it stopped in (OneRunning.interrupt), else a start and a cancelled stop of
        # the first that never started; the tracker cancels every waiting test of the run with it.
        # An orchestrated item's firings are started by its own report, which says which.
        started, cancelled = self.items.interrupt()
        for report in self.orchestrated.values():
            reported, stopped = report.interrupt()
            started |= reported
            cancelled |= stopped
        never = next((index for index in range(len(self.tests)) if index not in started), None)
        if never is not None and not cancelled:
            self._report(START, never, timestamp_start=_now())
            self._report(STOP, never, status="cancelled", timestamp_stop=_now())
        self.sender.close(FLUSH)

    def pytest_terminal_summary(self, terminalreporter):
        if self.unlisted:
            terminalreporter.write_line(
                f"progress: only {'; '.join(self.unlisted)} are reported (at most {MAX_FIRINGS} per "
                f"orchestrated run, {MAX_TESTS} tests per dry run)",
                yellow=True,
            )
        problem = self.sender.problem
        if problem:
            unsent = self.sender.unsent
            terminalreporter.write_line(
                f"progress: {problem}; {unsent} of {self.sender.queued} reports not sent", yellow=True
            )
