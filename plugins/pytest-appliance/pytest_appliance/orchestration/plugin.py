"""The pytest side: options and ini keys, the fixtures, and one item per orchestrated run.

Inert unless ``--run-orch``/``--test-orch`` or ``--load-orch`` is given. A run is one
``pytest.Function`` collected from the first source file, so it sees the fixtures of every
conftest above that file, as a test module there would, and ``-k``, ``-x`` and ``--junitxml``
treat it like any test. Other plugins follow a run through the hooks of ``hooks.py``: its plan of
firings (``pytest_orchestration_plan``), each firing's start and end, told from the event threads
by ``_Hooks``, the schedule's observer, and the run's end.
"""

from __future__ import annotations

import functools
import inspect
import multiprocessing
import statistics
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from pytest_appliance.orchestration import hooks
from pytest_appliance.orchestration.description import (
    Description,
    DescriptionError,
    load_description,
    parse_duration,
)
from pytest_appliance.orchestration.firings import Firing, FiringOutcome, FiringPlan
from pytest_appliance.orchestration.reporter import END_OF_RESULTS, ResultReporter
from pytest_appliance.orchestration.schedule import Outcome, Run
from pytest_appliance.orchestration.sources import check_events, event_functions, load_sources


@dataclass(frozen=True)
class Plan:
    description: Description
    seconds: float
    modules: dict[Path, ModuleType]
    firings: FiringPlan

    @property
    def anchor(self) -> Path:
        """The source file the run is collected from."""
        return next(iter(self.modules))


PLAN = pytest.StashKey[Plan]()


def pytest_addhooks(pluginmanager):
    pluginmanager.add_hookspecs(hooks)


def pytest_addoption(parser):
    group = parser.getgroup("orchestration", "orchestrated soak and system runs (pytest-orchestration)")
    for flag in ("--run-orch", "--test-orch"):
        group.addoption(
            flag,
            dest="orch_name",
            metavar="NAME",
            help="run the orchestration described in NAME.json (the two flags are one)",
        )
    group.addoption(
        "--load-orch", action="store_true", help="load and check every description and source, run nothing"
    )
    group.addoption(
        "--runtime-orch",
        metavar="DURATION",
        help="run for this long instead of total_hours: hours (2, 0.5) or 90s, 15m",
    )
    parser.addini("orchestration_descriptions", "folder of the JSON descriptions of orchestrated runs")
    parser.addini("orchestration_sources", "files holding the event functions, separated by commas")


def _base(config) -> Path:
    return config.inipath.parent if config.inipath else config.rootpath


def _descriptions_dir(config) -> Path:
    folder = config.getini("orchestration_descriptions")
    if not folder:
        raise pytest.UsageError("orchestration_descriptions is not set in the pytest configuration")
    return _base(config) / folder


def _source_paths(config) -> list[Path]:
    return [
        _base(config) / entry.strip()
        for entry in config.getini("orchestration_sources").split(",")
        if entry.strip()
    ]


def _plan(config, path: Path) -> tuple[Plan | None, list[str]]:
    try:
        description = load_description(path)
    except DescriptionError as error:
        return None, error.problems
    modules, problems = load_sources(_source_paths(config))
    if not modules and not problems:
        problems.append("orchestration_sources: no source files are set in the pytest configuration")
    problems += check_events(description, event_functions(modules))
    runtime = config.getoption("runtime_orch")
    seconds = parse_duration(runtime) if runtime else description.seconds
    return Plan(description, seconds, modules, FiringPlan(description.events, seconds)), problems


def pytest_cmdline_main(config):
    """``--load-orch``: check everything, run nothing."""
    if not config.getoption("load_orch"):
        return None
    folder = _descriptions_dir(config)
    paths = sorted(folder.glob("*.json"))
    problems = [] if paths else [f"orchestration_descriptions: no *.json in {folder}"]
    for path in paths:
        problems += _plan(config, path)[1]
    for problem in dict.fromkeys(problems):  # a bad source would be named once per description
        print(f"ERROR: {problem}")
    print(f"orchestration: {len(paths)} description(s) checked, {len(problems)} problem(s)")
    return pytest.ExitCode.USAGE_ERROR if problems else pytest.ExitCode.OK


def pytest_configure(config):
    name = config.getoption("orch_name")
    if not name:
        return
    path = _descriptions_dir(config) / f"{name}.json"
    if not path.is_file():
        raise pytest.UsageError(f"--run-orch={name}: no {path}")
    try:
        plan, problems = _plan(config, path)
    except ValueError as error:
        raise pytest.UsageError(str(error)) from None
    if problems:
        raise pytest.UsageError("orchestration " + name + ":\n" + "\n".join(problems))
    config.stash[PLAN] = plan
    # The run is collected from its first source, so that file is collected whatever else is.
    collected = [Path(config.invocation_params.dir, arg.split("::")[0]).resolve() for arg in config.args]
    if not any(plan.anchor.resolve().is_relative_to(path) for path in collected):
        config.args.append(str(plan.anchor))


def pytest_report_header(config):
    plan = config.stash.get(PLAN, None)
    if plan:
        return (
            f"orchestration: {plan.description.test_name} ({plan.description.path}), "
            f"{plan.seconds:g} s, sources {', '.join(map(str, plan.modules))}"
        )
    return None


def pytest_collect_file(file_path, parent):
    plan = parent.config.stash.get(PLAN, None)
    if plan and file_path.resolve() == plan.anchor.resolve():
        return OrchestrationModule.from_parent(parent, path=file_path)
    return None


def pytest_collection_modifyitems(config, items):
    """With a run requested, it is the only item: the tests beside its sources are deselected."""
    if PLAN not in config.stash:
        return
    others = [item for item in items if not isinstance(item, OrchestrationRun)]
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = [item for item in items if isinstance(item, OrchestrationRun)]


def pytest_orchestration_plan(item):
    if isinstance(item, OrchestrationRun):
        return item.config.stash[PLAN].firings
    return None


class OrchestrationFailed(Exception):
    """The run's errors, already written as the report says them."""


class OrchestrationModule(pytest.Module):
    """The first source file, holding the run instead of tests."""

    def _getobj(self):
        # Already imported when the sources were checked; importing it twice would run it twice.
        return self.config.stash[PLAN].modules[self.path]

    def collect(self):
        plan = self.config.stash[PLAN]
        yield OrchestrationRun.from_parent(self, name=plan.description.test_name, callobj=run_orchestration)


class OrchestrationRun(pytest.Function):
    def repr_failure(self, excinfo):
        if excinfo.errisinstance(OrchestrationFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


def _arguments(function, params: dict, request) -> dict:
    """What the event takes, by name: a param of its description, else a fixture."""
    arguments = {}
    for name, parameter in inspect.signature(function).parameters.items():
        if name in params:
            arguments[name] = params[name]
        elif parameter.default is parameter.empty:
            arguments[name] = request.getfixturevalue(name)
    return arguments


def run_orchestration(request):
    plan = request.config.stash[PLAN]
    functions = event_functions(plan.modules)
    for name in plan.description.unref_setup_fixtures:
        request.getfixturevalue(name)
    kill_switch = request.getfixturevalue("kill_switch")
    reporter = request.getfixturevalue("result_reporter")
    calls = [
        (
            spec,
            functools.partial(functions[spec.name], **_arguments(functions[spec.name], spec.params, request)),
        )
        for spec in plan.description.events
    ]
    monitor_errors: list[BaseException] = []
    monitor = threading.Thread(
        target=_monitor, args=(reporter, monitor_errors), name="orchestration-reporter"
    )
    monitor.start()
    try:
        outcome = Run(calls, plan.seconds, kill_switch, observer=_Hooks(request.config.hook, request.node))()
    finally:
        reporter.queue.put(END_OF_RESULTS)
        monitor.join()
    request.config.hook.pytest_orchestration_finished(item=request.node, outcome=outcome)
    text = summary(outcome, plan.seconds, reporter.errors + monitor_errors)
    request.node.add_report_section("call", "orchestration", text)
    if outcome.errors or outcome.killed_at is not None or reporter.errors or monitor_errors:
        raise OrchestrationFailed(text)


class _Hooks:
    """The schedule's observer: each firing's start and end, told to the firing hooks."""

    def __init__(self, hook, item):
        self.hook, self.item = hook, item

    def started(self, firing: Firing) -> None:
        self.hook.pytest_orchestration_firing_started(item=self.item, firing=firing)

    def finished(self, firing: Firing, outcome: FiringOutcome) -> None:
        self.hook.pytest_orchestration_firing_finished(item=self.item, firing=firing, outcome=outcome)


def _monitor(reporter: ResultReporter, errors: list[BaseException]) -> None:
    try:
        reporter.monitor()
    except Exception as error:  # a broken on_result fails the run rather than passing silently
        errors.append(error)


def _milliseconds(values: list[float]) -> str:
    if not values:
        return "no timed firings"
    p99 = statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) > 1 else values[0]
    return f"jitter p50 {statistics.median(values) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"


def summary(outcome: Outcome, seconds: float, reported: list) -> str:
    lines = [
        f"{name}: {stats.runs} runs, {stats.failures} failures, {stats.skipped_overlaps} skipped overlaps, "
        + _milliseconds(stats.jitter)
        for name, stats in outcome.stats.items()
    ]
    if outcome.killed_at is not None:
        lines.append(f"the kill switch was set at {outcome.killed_at:.3f} s, before the end at {seconds:g} s")
    lines += [f"error reported: {result!r}" for result in reported]
    lines += [f"error in {error.event} at {error.at:.3f} s:\n{error.traceback}" for error in outcome.errors]
    return "\n".join(lines)


@pytest.fixture
def kill_switch():
    """Set when the run ends; an event may set it to end the run early, which fails it."""
    return multiprocessing.Event()


@pytest.fixture
def report_queue():
    """A queue events in any process can put results on."""
    with multiprocessing.Manager() as manager:
        yield manager.Queue()


@pytest.fixture
def result_reporter(report_queue):
    """Override this fixture to plug in a ``ResultReporter`` subclass."""
    return ResultReporter(report_queue)
