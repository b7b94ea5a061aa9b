"""A drop-in for pytest-orchestration 0.0.10: configuration-driven soak and system runs."""

from pytest_appliance.orchestration.firings import Firing, FiringOutcome, FiringPlan
from pytest_appliance.orchestration.reporter import ResultReporter

__all__ = ["Firing", "FiringOutcome", "FiringPlan", "ResultReporter"]
