"""`make run` starts the stack with `scripts/make-run.toml`: a file the programs accept, which
lets test machines on this machine report progress without a token, and nobody else."""

from appliance.config import load_file
from tests.harness import ROOT


def test_the_make_run_configuration_loads_and_opens_progress_to_loopback_only():
    config = load_file(ROOT / "scripts" / "make-run.toml")
    assert config.progress.allow_anonymous is True
    assert config.progress.anonymous_from_lan is False
    assert config.server.host == "127.0.0.1"
