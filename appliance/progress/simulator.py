"""Virtual test machines for demos and load (``appliance progress simulate``): each, in a thread,
reports as the seed's test machines do: a dry run (a master scenario, its scenarios, their
tests), then each test's start and, after a while, its stop with an outcome.

Everything a machine does is drawn from a seeded random generator, so one seed is one run, down
to each test's outcome and duration, however the threads interleave: a machine's suite (its
scenarios and tests) from ``Random("<seed>:<machine>")``, each run's outcomes and durations from
``Random("<seed>:<machine>:<run>")``. ``suite`` and ``plan`` say ahead what a simulation will
report; the tests compare the server's records with them.

The standard library only (and ``appliance.client``, which is too): a laptop or a build box
without the ``server`` extra can load a Pi with it.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.client import Client, ServerUnavailable, where
from appliance.progress.statuses import CANCELLED, ERROR, FAILED, PASSED, WARNING

OUTCOMES = (PASSED, FAILED, ERROR, WARNING)
WEIGHTS = (80, 10, 4, 6)  # mostly green, as a suite worth demonstrating is
ROOT = "/virtual_testing_machine/src/test_cases"  # the seed's README's machine
FEATURES = (
    "lamp", "door", "trunk", "wipers", "radio", "seat", "mirror", "horn", "windows", "brakes",
    "lights", "climate",
)  # fmt: skip
SCENARIOS = (2, 4)  # per machine, inclusive
TESTS = (2, 6)  # per scenario, inclusive
MAX_TEST_SECONDS = 3600.0
MAX_MACHINES = 500
CANCEL_TIMEOUT = 5.0  # the last report of a machine told to stop: brief, the user is waiting


class SimulationError(Exception):
    """A machine's report was refused: not something to wait out."""


@dataclass(frozen=True)
class Settings:
    seed: int
    test_seconds: tuple[float, float] = (1.0, 5.0)
    outcome: str | None = None  # every test's; None: drawn with WEIGHTS
    prefix: str = "virtual machine"

    def machine_name(self, index: int) -> str:
        return f"{self.prefix} #{index}"


@dataclass(frozen=True)
class File:
    file_path: str
    file_name: str
    script: str

    def json(self) -> dict[str, str]:
        return {"file_path": self.file_path, "file_name": self.file_name, "script": self.script}


@dataclass(frozen=True)
class Scenario:
    file: File
    tests: tuple[File, ...]


@dataclass(frozen=True)
class Suite:
    machine_name: str
    master: File
    scenarios: tuple[Scenario, ...]

    @property
    def tests(self) -> list[File]:
        return [test for scenario in self.scenarios for test in scenario.tests]

    def dry_run(self, timestamp: str) -> dict[str, Any]:
        return {
            "machine_name": self.machine_name,
            "timestamp": timestamp,
            "master_scenario": {
                **self.master.json(),
                "scenarios": [
                    {**scenario.file.json(), "tests": [test.json() for test in scenario.tests]}
                    for scenario in self.scenarios
                ],
            },
        }


@dataclass(frozen=True)
class Outcome:
    status: str
    seconds: float


def suite(settings: Settings, index: int) -> Suite:
    """Machine ``index``'s (from 1) scenarios and tests, in the seed's layout and names."""
    rng = random.Random(f"{settings.seed}:{index}")  # noqa: S311 - reproducible on purpose
    features = rng.sample(FEATURES, rng.randint(*SCENARIOS))
    scenarios = []
    for number, feature in enumerate(features, start=1):
        folder = f"{number:02d}_feature_{feature}"
        tests = tuple(
            File(
                f"{ROOT}/{folder}",
                f"{number:02d}_{test:02d}_test_{feature}.py",
                f"def test_{feature}_{test}():\n    assert {feature!r}\n",
            )
            for test in range(1, rng.randint(*TESTS) + 1)
        )
        script = f"from run import TEST_CASES_DIR, run_test_case\n\nrun_test_case({folder!r})\n"
        scenarios.append(Scenario(File(f"{ROOT}/scenarios", f"scenario_{folder}.py", script), tests))
    master = File(f"{ROOT}/scenarios", "scenario_master.py", "import os\nfrom run import SCENARIOS_DIR\n")
    return Suite(settings.machine_name(index), master, tuple(scenarios))


def plan(settings: Settings, index: int, run: int, tests: int) -> list[Outcome]:
    """The outcome and duration of each of the ``tests`` tests of machine ``index``'s run ``run``
    (both from 1)."""
    rng = random.Random(f"{settings.seed}:{index}:{run}")  # noqa: S311 - reproducible on purpose
    low, high = settings.test_seconds
    outcomes = []
    for _ in range(tests):
        drawn = rng.choices(OUTCOMES, WEIGHTS)[0]
        seconds = round(rng.uniform(low, high), 3)
        outcomes.append(Outcome(settings.outcome or drawn, seconds))
    return outcomes


def counts(outcomes: list[Outcome]) -> dict[str, int]:
    return dict(Counter(outcome.status for outcome in outcomes))


def now() -> str:
    """This machine's time in ISO 8601 with its zone, which the server keeps as the machine's."""
    return datetime.now().astimezone().isoformat()


@dataclass(frozen=True)
class RunDone:
    machine_name: str
    number: int  # this machine's run, from 1
    run: int  # the server's id of the run
    counts: dict[str, int]
    cancelled: bool


REFUSED_HINT = (
    "the server takes reports with the progress token ([auth] progress_token, or "
    "<data_dir>/secrets/progress-token on the server's machine), or without one from its own "
    "machine when [progress] allow_anonymous is set"
)


class Machine:
    """One virtual test machine: ``runs`` runs (None: until stopped), one after the other."""

    def __init__(
        self,
        client: Client,
        settings: Settings,
        index: int,
        runs: int | None,
        stop: threading.Event,
        on_run: Callable[[RunDone], None],
    ):
        self.client = client
        self.settings = settings
        self.index = index
        self.runs = runs
        self.stop = stop
        self.on_run = on_run
        self.suite = suite(settings, index)
        self.error: str | None = None

    def run(self) -> None:
        """The thread's body: a refusal or a lost server ends this machine, kept in ``error``."""
        number = 1
        try:
            while (self.runs is None or number <= self.runs) and not self.stop.is_set():
                self.on_run(self.run_once(number))
                number += 1
        except (SimulationError, ServerUnavailable) as exc:
            self.error = f"{self.suite.machine_name}: {exc}"

    def run_once(self, number: int) -> RunDone:
        files = self.suite.tests
        outcomes = plan(self.settings, self.index, number, len(files))
        answer = self._post("/tm_api/dry_run/", self.suite.dry_run(now()), 201)
        listed = answer.get("tests") if isinstance(answer, dict) else None
        if not isinstance(listed, list) or len(listed) != len(files):
            raise SimulationError(
                f"the server's answer to the dry run lists no tests or other ones: {answer!r:.200}"
            )
        run = answer["run"]
        for position, (file, outcome, test) in enumerate(zip(files, outcomes, listed, strict=True)):
            which = {
                "machine_name": self.suite.machine_name,
                "file_path": file.file_path,
                "file_name": file.file_name,
            }
            exactly = {"run": run, "test": test["test"]}
            self._post("/tm_api/test_start/", {**which, "timestamp_start": now(), **exactly}, 202)
            if self.stop.wait(outcome.seconds):
                # Told to stop: this test is cancelled, and with it the rest of the run, so the run
                # ends as cancelled rather than showing as interrupted later.
                stop = {**which, "status": CANCELLED, "timestamp_stop": now(), **exactly}
                self._post("/tm_api/test_stop/", stop, 202, timeout=CANCEL_TIMEOUT)
                done = counts(outcomes[:position])
                return RunDone(self.suite.machine_name, number, run, done, cancelled=True)
            stop = {**which, "status": outcome.status, "timestamp_stop": now(), **exactly}
            self._post("/tm_api/test_stop/", stop, 202)
        return RunDone(self.suite.machine_name, number, run, counts(outcomes), cancelled=False)

    def _post(self, path: str, body: dict[str, Any], expected: int, timeout: float | None = None) -> Any:
        answer = self.client.call("POST", path, body, timeout=timeout)
        if answer.status != expected:
            message = answer.summary(where(self.client.base_url + path))
            if answer.status in (401, 403):
                message = f"{message}: {REFUSED_HINT}"
            raise SimulationError(message)
        return answer.body


class Simulation:
    """``machines`` machines in threads; ``stop`` (from a signal handler too) ends them cleanly."""

    def __init__(
        self,
        client: Client,
        settings: Settings,
        machines: int,
        runs: int | None,
        on_run: Callable[[RunDone], None] = lambda _done: None,
        on_error: Callable[[str], None] = lambda _error: None,
    ):
        self.stop_event = threading.Event()
        self.on_error = on_error
        self.machines = [
            Machine(client, settings, index, runs, self.stop_event, on_run)
            for index in range(1, machines + 1)
        ]

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> list[str]:
        """Run every machine to its end; the errors of those that failed."""
        threads = []
        for machine in self.machines:
            thread = threading.Thread(
                target=self._machine, args=(machine,), name=machine.suite.machine_name, daemon=True
            )
            thread.start()
            threads.append(thread)
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.2)  # short waits, so the main thread's signal handlers run
        return [machine.error for machine in self.machines if machine.error]

    def _machine(self, machine: Machine) -> None:
        machine.run()
        if machine.error:
            self.on_error(machine.error)
