"""The result reporter: events put what they learn on a queue, one thread hands it to ``on_result``."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("pytest_appliance.orchestration")

# Put on the queue after the last event has finished, so the monitor drains everything and stops.
END_OF_RESULTS = "pytest-appliance: end of results"


class ResultReporter:
    """Collects results from events, also across processes (the queue is a Manager's).

    Subclass it and override ``on_result`` to handle results your way; override the
    ``result_reporter`` fixture to plug the subclass in. A result that is an exception, or a dict
    with an ``"error"`` key, fails the run whatever ``on_result`` does with it.
    """

    def __init__(self, queue):
        self.queue = queue
        self.errors: list[Any] = []

    def add_result(self, result: Any) -> None:
        self.queue.put(result)

    def add_error(self, message: str) -> None:
        self.add_result({"error": message})

    def monitor(self) -> None:
        """Hand every result to ``on_result`` until the run has ended; runs in its own thread."""
        while (result := self.queue.get()) != END_OF_RESULTS:
            if isinstance(result, BaseException) or (isinstance(result, dict) and "error" in result):
                self.errors.append(result)
            self.on_result(result)

    def on_result(self, result: Any) -> None:
        log.info("orchestration result: %r", result)
