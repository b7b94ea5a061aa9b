"""Fixtures of the CI tests: a client of the Flask app with a CI configuration (``ci_app``, in
tests/conftest.py), and a real server with its runners and observers as subprocesses."""

from __future__ import annotations

import pytest

# The CI's real processes, in the harness the benchmarks use too; the tests import them from here.
from tests.harness import CI, ci_config


@pytest.fixture
def ci_client(ci_app):
    return ci_app.test_client()


@pytest.fixture
def auth(ci_app):
    return admin_auth(ci_app)


def admin_auth(application) -> dict[str, str]:
    return {"Authorization": "Bearer " + application.extensions["appliance"].credentials.tokens["admin"]}


def commits_body(*shas, repo="app"):
    """What the observer sends: a configured repository's name, never what it runs."""
    return {
        "repo": repo,
        "commits": [{"sha": sha * 40, "author": "Ada", "message": f"commit {sha}"} for sha in shas],
    }


# --- real processes ---------------------------------------------------------------------------


@pytest.fixture
def start_ci(start_server, tmp_path):
    made: list[CI] = []

    def start(repos: list[dict], **settings) -> CI:
        server = start_server(ci_config(repos, **settings))
        ci = CI(server, tmp_path)
        made.append(ci)
        return ci

    yield start
    for ci in made:
        ci.stop()
