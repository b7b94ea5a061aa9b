"""A test machine as the seed's client is: it posts its dry run, then each test's start and stop."""

from __future__ import annotations

import copy
import sqlite3

import pytest

DIR = "/virtual_testing_machine/src/test_cases"
# The seed's README, its dry run as sent, with the lamp scenario listing one file twice.
DRY_RUN = {
    "machine_name": "machine #1",
    "timestamp": "2018-12-30 13:01:57.461401",
    "master_scenario": {
        "file_path": f"{DIR}/scenarios",
        "file_name": "scenario_master.py",
        "script": "import os\nfrom run import SCENARIOS_DIR",
        "scenarios": [
            {
                "file_path": f"{DIR}/scenarios",
                "file_name": "scenario_01_feature_lamp.py",
                "script": "import os\nfrom run import TEST_CASES_DIR, run_test_case",
                "tests": [
                    {"file_path": f"{DIR}/01_feature_lamp", "file_name": "01_01_test_lamp.py", "script": ""},
                    {"file_path": f"{DIR}/01_feature_lamp", "file_name": "01_02_test_lamp.py", "script": "x"},
                    {"file_path": f"{DIR}/01_feature_lamp", "file_name": "01_01_test_lamp.py", "script": ""},
                ],
            },
            {
                "file_path": f"{DIR}/scenarios",
                "file_name": "scenario_03_feature_trunk.py",
                "script": "import os\n",
                "tests": [
                    {"file_path": f"{DIR}/02_feature_door", "file_name": "01_01_test_door.py", "script": ""},
                ],
            },
        ],
    },
}


def dry_run(machine: str = "machine #1") -> dict:
    body = copy.deepcopy(DRY_RUN)
    body["machine_name"] = machine
    return body


def start(file_name: str, folder: str = "01_feature_lamp", machine: str = "machine #1", **extra) -> dict:
    return {
        "machine_name": machine,
        "file_path": f"{DIR}/{folder}",
        "file_name": file_name,
        "timestamp_start": "2018-12-30 13:01:57.573828",
        **extra,
    }


def stop(file_name: str, status: str, folder: str = "01_feature_lamp", machine: str = "machine #1", **extra):
    return {
        "machine_name": machine,
        "file_path": f"{DIR}/{folder}",
        "file_name": file_name,
        "status": status,
        "timestamp_stop": "2018-12-30 13:01:59.622177",
        **extra,
    }


@pytest.fixture
def machine(app):
    """A client that reports with the progress token, as a configured test machine does."""
    token = app.extensions["appliance"].credentials.tokens["progress"]
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def database_dump(app) -> list[str]:
    with sqlite3.connect(app.extensions["appliance"].config.database_path) as conn:
        return list(conn.iterdump())
