"""The pytest side: options and ini keys, and the hooks that turn a session into reports.

Inert unless ``--progress-url`` (or the ``progress_url`` ini key) is given. The collection is the
dry run: the session is the master scenario, each file a scenario, each item a test. Each test's
start is sent when pytest starts it, its stop when its teardown is done, with one status for its
phases. Reports go through ``sender.Sender``, so a tracker that is down or slow costs the session
at most ``FLUSH`` seconds at its end and one line in the summary.
"""

from __future__ import annotations

import os
import shlex
import socket
from collections import defaultdict, deque
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pytest_appliance.progress.sender import DRY_RUN, START, STOP, Report, Sender

TOKEN_ENV = "APPLIANCE_PROGRESS_TOKEN"  # noqa: S105 (a variable's name)
FLUSH = 2.0  # seconds the session's end waits for the last reports, at most

# The tracker's limits (docs/api.md): longer names are cut, not refused.
MAX_NAME = 256
MAX_PATH = 1024


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
        self.running: dict[str, int] = {}
        self.phases: dict[str, dict[str, pytest.TestReport]] = defaultdict(dict)
        self.tests: list[tuple[str, str]] = []  # the dry run's tests, (file, name)
        self.started: set[int] = set()

    def _report(self, path: str, index: int, **body) -> None:
        file_path, file_name = self.tests[index]
        body = {"machine_name": self.machine, "file_path": file_path, "file_name": file_name, **body}
        self.sender.send(Report(path, body, index))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session):
        if not session.items or self.config.option.collectonly:
            return
        scenarios: dict[str, list[str]] = {}
        for item in session.items:
            scenarios.setdefault(_split(item.nodeid)[0], []).append(item.nodeid)
        listed = []
        for file_path, nodeids in scenarios.items():
            tests = []
            for nodeid in nodeids:
                self.places.setdefault(nodeid, deque()).append(len(self.tests))
                self.tests.append(_split(nodeid))
                tests.append({"file_name": self.tests[-1][1], "file_path": file_path, "script": ""})
            name = file_path.rsplit("/", 1)[-1][-MAX_NAME:]
            listed.append({"file_name": name, "file_path": file_path, "script": "", "tests": tests})
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
        places = self.places.get(nodeid)
        if not places:
            return
        self.running[nodeid] = index = places.popleft()
        self.started.add(index)
        self._report(START, index, timestamp_start=_now())

    def pytest_runtest_logreport(self, report):
        if report.nodeid in self.running:
            self.phases[report.nodeid][report.when] = report

    def pytest_runtest_logfinish(self, nodeid):
        index = self.running.pop(nodeid, None)
        if index is not None:
            self._report(STOP, index, status=status(self.phases.pop(nodeid, {})), timestamp_stop=_now())

    def pytest_sessionfinish(self, session):
        if not self.tests:
            return
        # A session stopped early (-x, Ctrl-C) cancels its tests that never ran: a cancelled stop
        # of the test it stopped in, else a start and a cancelled stop of the first that never
        # started; the tracker cancels every waiting test of the run with it.
        never = next((index for index in range(len(self.tests)) if index not in self.started), None)
        for index in self.running.values():
            self._report(STOP, index, status="cancelled", timestamp_stop=_now())
        if never is not None and not self.running:
            self._report(START, never, timestamp_start=_now())
            self._report(STOP, never, status="cancelled", timestamp_stop=_now())
        self.sender.close(FLUSH)

    def pytest_terminal_summary(self, terminalreporter):
        problem = self.sender.problem
        if problem:
            unsent = self.sender.unsent
            terminalreporter.write_line(
                f"progress: {problem}; {unsent} of {self.sender.queued} reports not sent", yellow=True
            )
