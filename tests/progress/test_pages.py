"""Each progress page shows what its JSON twin holds, and nothing the JSON does not: ``/progress``
with ``/api/progress/machines``, ``/progress/machines/<pk>`` with ``/api/progress/machines/<pk>``,
``/progress/runs/<pk>`` with ``/api/progress/runs/<pk>``; and an interrupted run shows as such."""

from __future__ import annotations

import pytest

from appliance.web import progress_pages
from tests.progress.conftest import dry_run, start, stop
from tests.twins import Element, json_of, page_at, unread_keys
from tests.web.test_errors import assert_error_shape

# Links: each row or heading links to it, the test reads the link itself.
LINKS = {"absolute_url", "machines[].absolute_url", "machines[].last_run.absolute_url", "runs[].absolute_url"}
TAG = "<b>&amp;</b>"  # escaped on the page, shown as is


@pytest.fixture
def reported(machine):
    """Two machines: one (markup in its name) with two runs, the latest part done and a script
    with markup in it; the other's one run waiting."""
    body = dry_run(f"machine {TAG}")
    body["master_scenario"]["scenarios"][0]["tests"][1]["script"] = "if a < b:\n    print('&')\n"
    first = machine.post("/tm_api/dry_run/", json=body).get_json()
    second = machine.post("/tm_api/dry_run/", json=body).get_json()
    name = body["machine_name"]
    for file_name, status in [("01_01_test_lamp.py", "passed"), ("01_02_test_lamp.py", "failed")]:
        assert machine.post("/tm_api/test_start/", json=start(file_name, machine=name)).status_code == 202
        assert (
            machine.post("/tm_api/test_stop/", json=stop(file_name, status, machine=name)).status_code == 202
        )
    machine.post("/tm_api/test_start/", json=start("01_01_test_lamp.py", machine=name))
    other = machine.post("/tm_api/dry_run/", json=dry_run("machine #2")).get_json()
    return {"machine": first["machine"], "runs": [first["run"], second["run"]], "other": other}


def counts(run: dict) -> str:
    shown = run["counts"]
    return ", ".join(f"{shown[status]} {status}" for status in shown)  # read each count


def bar(run: dict) -> str:
    return f"{run['done']} of {run['total']} done"


def link(element: Element) -> str:
    return element.one("a").attrs["href"]


def test_the_machines_page_shows_its_twin(machine, reported):
    twin = json_of(machine, "/api/progress/machines")
    page = page_at(machine, "/progress")
    rows = page.select("tr", data_machine=True)
    expected = []
    for entry in twin["machines"]:
        run = entry["last_run"]
        expected.append(
            {
                "pk": str(entry["pk"]),
                "link": entry["absolute_url"],
                "cells": [
                    entry["machine_name"],
                    f"#{run['pk']} {run['timestamp']}",
                    bar(run),
                    run["status"],
                    counts(run),
                    run["last_report_at"],
                ],
                "run_link": run["absolute_url"],
            }
        )
    shown = [
        {
            "pk": row.attrs["data-machine"],
            "link": link(row.select("td")[0]),
            "cells": row.cells(),
            "run_link": link(row.select("td")[1]),
        }
        for row in rows
    ]
    assert shown == expected
    assert shown[0]["cells"][0] == f"machine {TAG}"
    assert [run["last_run"]["status"] for run in twin["machines"]] == ["running", "waiting"]
    assert unread_keys(twin) <= set()


def tree_of(run: dict) -> list[list[str]]:
    rows = []
    for scenario in run["scenarios"]:
        rows.append([scenario["file_name"], scenario["file_path"], scenario["status"], "", ""])
        for test in scenario["tests"]:
            rows.append(
                [
                    test["file_name"],
                    test["file_path"],
                    test["status"],
                    test["timestamp_start"] or "",
                    test["timestamp_stop"] or "",
                ]
            )
    return rows


def shown_tree(page: Element) -> list[list[str]]:
    return [row.cells() for row in page.one("table", data_run=True).select("tr") if row.select("td")]


def facts_of(run: dict) -> dict[str, str]:
    return {
        "Status": run["status"],
        "Progress": bar(run),
        "Tests": counts(run),
        "Master scenario": f"{run['file_path']}/{run['file_name']}",
        "Dry run at": run["timestamp"],
        "Last report": run["last_report_at"],
    }


def shown_facts(page: Element) -> dict[str, str]:
    facts = page.one("dl")
    return {dt.text: dd.text for dt, dd in zip(facts.select("dt"), facts.select("dd"), strict=True)}


def test_a_machines_page_shows_its_twin(machine, reported):
    twin = json_of(machine, f"/api/progress/machines/{reported['machine']}")
    page = page_at(machine, f"/progress/machines/{reported['machine']}")
    run = twin["current_run"]
    assert page.one("h2", id="machine-title").text == twin["machine_name"]
    assert twin["pk"] == reported["machine"] and twin["absolute_url"].endswith(str(twin["pk"]))
    assert run["machine"]["pk"] == twin["pk"] and run["machine"]["machine_name"] == twin["machine_name"]
    assert run["machine"]["absolute_url"] == twin["absolute_url"]
    section = page.one("section", id="progress-run")
    assert (
        section.one("p").text == f"Current run: #{run['pk']}"
        and link(section.one("p")) == run["absolute_url"]
    )
    assert shown_facts(section) == facts_of(run)
    assert shown_tree(section) == tree_of(run)
    assert [row.attrs["data-test"] for row in section.select("tr", data_test=True)] == [
        str(test["pk"]) for scenario in run["scenarios"] for test in scenario["tests"]
    ]
    assert [body.attrs["data-scenario"] for body in section.select("tbody", data_scenario=True)] == [
        str(scenario["pk"]) for scenario in run["scenarios"]
    ]
    history = [
        [f"#{r['pk']}", r["timestamp"], r["status"], bar(r), counts(r), r["last_report_at"]]
        for r in twin["runs"]
    ]
    rows = page.one("section", id="progress-history").select("tr", data_run=True)
    assert [row.cells() for row in rows] == history
    assert [link(row) for row in rows] == [r["absolute_url"] for r in twin["runs"]]
    assert [r["pk"] for r in twin["runs"]] == reported["runs"][::-1]
    assert [r["status"] for r in twin["runs"]] == ["running", "unknown"]
    assert run["status"] == "running" and (run["done"], run["total"]) == (2, 4)
    assert unread_keys(twin) <= LINKS


def test_a_runs_page_shows_its_twin_and_the_scripts(machine, reported):
    for run_id in reported["runs"]:
        twin = json_of(machine, f"/api/progress/runs/{run_id}")
        page = page_at(machine, f"/progress/runs/{run_id}")
        heading = page.one("h2", id="run-title")
        assert heading.text == f"Run #{twin['pk']} of {twin['machine']['machine_name']}"
        assert (
            link(heading) == twin["machine"]["absolute_url"] and twin["machine"]["pk"] == reported["machine"]
        )
        assert twin["absolute_url"] == f"/progress/runs/{twin['pk']}"
        assert shown_facts(page) == facts_of(twin)
        assert shown_tree(page) == tree_of(twin)
        sources = [
            (f"run-{twin['pk']}", twin["file_path"], twin["file_name"], twin["script"]),
            *(
                item
                for scenario in twin["scenarios"]
                for item in [
                    (
                        f"scenario-{scenario['pk']}",
                        scenario["file_path"],
                        scenario["file_name"],
                        scenario["script"],
                    ),
                    *(
                        (f"test-{t['pk']}", t["file_path"], t["file_name"], t["script"])
                        for t in scenario["tests"]
                    ),
                ]
            ),
        ]
        shown = [
            (d.attrs["data-source"], d.one("summary").text, d.one("pre").text)
            for d in page.select("details", data_source=True)
        ]
        assert shown == [
            (key, f"{path}/{name}", " ".join(script.split())) for key, path, name, script in sources
        ]
        assert unread_keys(twin) <= LINKS
    raw = machine.get(f"/progress/runs/{reported['runs'][1]}", headers={"Accept": "text/html"})
    html = raw.get_data(as_text=True)
    # Highlighted on the server: a keyword and a string as Pygments' spans, every character escaped.
    assert '<span class="k">if</span> <span class="n">a</span> <span class="o">&lt;</span>' in html
    assert "<span class=\"s1\">'&amp;'</span>" in html


def test_scripts_beyond_the_pages_highlighting_budget_are_plain_text(app, machine, monkeypatch):
    monkeypatch.setattr(progress_pages, "HIGHLIGHT_BYTES", 40)
    body = dry_run("budget")
    body["master_scenario"]["script"] = ""
    for scenario in body["master_scenario"]["scenarios"]:
        scenario["script"] = ""
    tests = body["master_scenario"]["scenarios"][0]["tests"]
    tests[0]["script"] = "import os  # within the budget"
    tests[1]["script"] = "import sys  # beyond it: <b>plain</b>"
    run = machine.post("/tm_api/dry_run/", json=body).get_json()["run"]
    html = machine.get(f"/progress/runs/{run}", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert '<span class="kn">import</span><span class="w"> </span><span class="nn">os</span>' in html
    assert "import sys  # beyond it: &lt;b&gt;plain&lt;/b&gt;</pre>" in html


def test_an_interrupted_run_shows_as_interrupted(app, machine, reported):
    views = app.extensions["appliance"].progress.views
    views.clock = lambda: 4e9  # long after any report
    twin = machine.get(f"/api/progress/machines/{reported['machine']}").get_json()
    assert twin["current_run"]["status"] == "interrupted"
    page = page_at(machine, f"/progress/machines/{reported['machine']}")
    assert shown_facts(page.one("section", id="progress-run"))["Status"] == "interrupted"
    assert page.one("section", id="progress-run").select("span", **{"class": "pg-status pg-interrupted"})
    listed = page_at(machine, "/progress").select("tr", data_machine=True)
    assert [row.cells()[3] for row in listed] == ["interrupted", "interrupted"]


def test_missing_things_are_404_in_the_one_shape(machine):
    for path in ("/api/progress/machines/9", "/api/progress/runs/9"):
        assert_error_shape(machine.get(path), 404)
    assert machine.get("/progress/runs/9", headers={"Accept": "text/html"}).status_code == 404
    empty = page_at(machine, "/progress")
    assert "No test machine has reported" in empty.text
    assert machine.get("/api/progress/machines").get_json() == {"machines": []}
