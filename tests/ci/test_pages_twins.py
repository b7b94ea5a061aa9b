"""Each CI page shows what its JSON twin holds, and nothing the JSON does not: ``/ci`` with
``/api/ci/repos`` and ``/api/ci/builds``, ``/ci/builds/<id>`` with ``/api/ci/builds/<id>``,
``/ci/runners`` with ``/api/ci/runners``."""

import pytest

from tests.twins import Element, json_of, page_at, unread_keys

# What the JSON holds that the page leaves out; any other key it holds must be on the page.
NOT_ON_THE_INDEX = {
    "repos[].command",  # each build's page shows the command it ran
    # On each build's page:
    *(
        f"{where}.{key}"
        for where in ("repos[].builds[]", "builds[]")
        for key in (
            "branch", "committed_at", "trigger", "command", "exit_code", "counts",
            "created_at", "started_at", "finished_at",
        )
    ),
}  # fmt: skip
NOT_ON_THE_BUILD_PAGE = {
    "short_commit",  # the page shows the whole commit id
    "committed_at",
    "started_at",  # each attempt's start is shown
    "finished_at",
    "attempts[].exit_code",  # the build's is shown: its latest attempt's
    "attempts[].counts",
    "attempts[].command_seconds",
    "attempts[].lease_expires",
    "attempts[].finished_at",
    "attempts[].duration_seconds",
}
NOT_ON_THE_RUNNERS_PAGE = {"runners[].registered_at"}

MESSAGE = 'fix <b>"quotes"</b> & ampersands'


def commit(letter: str) -> dict:
    return {"sha": letter * 40, "author": "Ada <ada@example.org>", "message": f"{MESSAGE} {letter}"}


@pytest.fixture
def builds_of_every_kind(ci_client, auth):
    """Builds passed, failed, running, queued and cancelled on two repositories; two runners."""

    def post(path: str, body: object = None, data: bytes | None = None) -> dict:
        response = ci_client.post(path, json=body, data=data, headers=auth)
        assert response.status_code < 300, (path, response.get_json())
        return response.get_json()

    post("/api/ci/commits", {"repo": "app", "commits": [commit(c) for c in "abcd"]})
    [cancelled] = post("/api/ci/commits", {"repo": "open", "commits": [commit("e")]})["builds"]
    post(f"/api/ci/builds/{cancelled['id']}/cancel")
    post("/api/ci/runners/r1/register", {"labels": ["pi", "arm64"], "capacity": 2})
    post("/api/ci/runners/r2/register", {"capacity": 1})
    counts = {"tests": 12, "failures": 2, "errors": 1, "skipped": 3}
    for result in [
        {"status": "passed", "exit_code": 0, "counts": {**counts, "failures": 0, "errors": 0}},
        {"status": "failed", "exit_code": 1, "counts": counts, "reason": "tests <failed> & more"},
        None,  # left running
    ]:
        work = post("/api/ci/runners/r1/next?wait=0")
        where = f"/api/ci/builds/{work['build']}/attempts/{work['attempt']}"
        post(f"{where}/log?offset=0", data=b"Ran 12 tests\n")
        if result is not None:
            post(f"{where}/result", {"runner": "r1", "command_seconds": 1.25, **result})
    statuses = {build["status"] for build in ci_client.get("/api/ci/builds").get_json()["builds"]}
    assert statuses == {"passed", "failed", "running", "queued", "cancelled"}


def duration(build: dict) -> str:
    seconds = build["duration_seconds"]
    return "" if seconds is None else f"{seconds:.1f} s"


def build_row(build: dict) -> dict:
    """A build's row in the list, as the page must show it."""
    return {
        "repo": build["repo"],
        "cells": [
            f"#{build['id']}",
            build["short_commit"],
            build["author"],
            build["message"],
            build["status"],
            duration(build),
            build["runner"] or "",
            str(build["attempt"]),
        ],
        "commit": build["commit"],
        "reason": build["reason"] or "",
    }


def rows_on(page: Element) -> list[dict]:
    """Every build row of ``/ci``, in the terms of ``build_row``."""
    return [
        {
            "repo": section.attrs["data-repo"],
            "cells": row.cells(),
            "commit": row.one("code").attrs["title"],
            "reason": row.one("span").attrs["title"],
        }
        for section in page.select("section", data_repo=True)
        for row in section.select("tr", data_build=True)
    ]


def test_the_builds_page_shows_its_twins(ci_client, builds_of_every_kind):
    repos = json_of(ci_client, "/api/ci/repos")
    builds = json_of(ci_client, "/api/ci/builds")
    page = page_at(ci_client, "/ci")

    headings = [section.one("h2").text for section in page.select("section", data_repo=True)]
    assert headings == [f"{repo['name']} {repo['branch']} · {repo['url']}" for repo in repos["repos"]]
    rows = rows_on(page)
    assert rows == [build_row(build) for repo in repos["repos"] for build in repo["builds"]]
    in_page_order = sorted(builds["builds"], key=lambda build: (build["repo"], -build["id"]))
    assert rows == [build_row(build) for build in in_page_order]
    assert unread_keys({"repos": repos["repos"], "builds": builds["builds"]}) <= NOT_ON_THE_INDEX


def build_page_of(build: dict) -> dict:
    """What a build's page must show of its JSON."""
    counts = build["counts"]
    exit_code = build["exit_code"]
    return {
        "heading": f"Build #{build['id']} of {build['repo']} {build['status']}",
        "attempt": str(build["attempt"]),
        "facts": {
            "Commit": f"{build['commit']} on {build['branch']} ({build['trigger']})",
            "Author": build["author"],
            "Message": build["message"],
            "Command": build["command"] or "unittest discovery of tests/ (the default)",
            "Reason": build["reason"] or "",
            "Runner": build["runner"] or "",
            "Exit code": "" if exit_code is None else str(exit_code),
            "Tests": f"{counts['tests']} run, {counts['failures']} failed, {counts['errors']} errors, "
            f"{counts['skipped']} skipped"
            if counts
            else "",
            "Queued": build["created_at"],
            "Duration": duration(build),
        },
        "attempts": [
            [
                str(attempt["number"]),
                attempt["runner"],
                attempt["status"],
                attempt["reason"] or "",
                attempt["started_at"],
                f"raw log ({attempt['log_bytes']} bytes)",
            ]
            for attempt in build["attempts"]
        ],
    }


def shown_on_build_page(page: Element) -> dict:
    build = page.one("section", id="ci-build")
    facts = build.one("dl")
    terms, values = facts.select("dt"), facts.select("dd")
    return {
        "heading": build.one("h2").text,
        "attempt": build.attrs["data-attempt"],
        "facts": {term.text: value.text for term, value in zip(terms, values, strict=True)},
        "attempts": [row.cells() for row in page.select("tr", data_attempt=True)],
    }


def test_each_build_page_shows_its_twin(ci_client, builds_of_every_kind):
    ids = [build["id"] for build in ci_client.get("/api/ci/builds").get_json()["builds"]]
    assert len(ids) == 5
    for build_id in ids:
        build = json_of(ci_client, f"/api/ci/builds/{build_id}")
        page = page_at(ci_client, f"/ci/builds/{build_id}")
        assert shown_on_build_page(page) == build_page_of(build), build_id
        assert unread_keys(build) <= NOT_ON_THE_BUILD_PAGE, build_id


def test_the_runners_page_shows_its_twin(ci_client, builds_of_every_kind):
    runners = json_of(ci_client, "/api/ci/runners")
    page = page_at(ci_client, "/ci/runners")
    expected = [
        [
            runner["name"],
            runner["state"],
            " ".join(f"#{held['build']} (attempt {held['attempt']})" for held in runner["builds"]),
            str(runner["capacity"]),
            ", ".join(runner["labels"]),
            runner["last_seen"],
        ]
        for runner in runners["runners"]
    ]
    assert [row.cells() for row in page.select("tr", data_runner=True)] == expected
    assert [row.attrs["data-runner"] for row in page.select("tr", data_runner=True)] == ["r1", "r2"]
    assert unread_keys(runners) <= NOT_ON_THE_RUNNERS_PAGE
