"""The runner's disk: what a failed checkout says, which becomes the build's reason for all to read."""

import pytest

from appliance.ci.workspace import CheckoutError, Workspace
from tests.conftest import free_port


def test_what_git_says_of_a_failed_clone_never_shows_the_password(tmp_path):
    workspace = Workspace(tmp_path / "work")
    workspace.clean_leftovers()
    with pytest.raises(CheckoutError) as failed:
        workspace.checkout("demo", f"http://alice:PW@127.0.0.1:{free_port()}/x.git", "a" * 40, 0)
    assert "git clone" in str(failed.value) and "PW" not in str(failed.value)


def test_a_missing_commit_is_named_without_the_password(tmp_path, git_repo):
    workspace = Workspace(tmp_path / "work")
    workspace.clean_leftovers()
    workspace.checkout("demo", str(git_repo.path), git_repo.commits[0], 0)
    with pytest.raises(CheckoutError) as failed:
        workspace.checkout("demo", f"file://alice:PW@{git_repo.path}", "a" * 40, 0)
    assert f"is not in file://alice:***@{git_repo.path}" in str(failed.value)
    assert "PW" not in str(failed.value)
