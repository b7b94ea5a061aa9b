"""Hooks other plugins implement to follow orchestrated runs."""


def pytest_orchestration_finished(item, outcome):
    """An orchestrated run ended; ``outcome`` holds its errors and each event's statistics."""
