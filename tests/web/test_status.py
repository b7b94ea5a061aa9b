"""The status page at ``/`` and its JSON twin ``/api/status`` show the same: the lamp the monitor
reported, its sources, and the programs supervisord runs."""

import pytest

from appliance.config import Config, ServerConfig, StackConfig
from appliance.web import create_app
from tests.conftest import wait_until
from tests.twins import Element, parse, track_reads, unread_keys
from tests.web.test_monitor_report import REPORT
from tests.web.test_showroom import expected_status_section, shown_status_section

# What the JSON holds that the page leaves out; any other key it holds must be on the page.
NOT_ON_THE_PAGE = {
    "monitor.state",  # shown as its meaning and colour
    "monitor.driver.key",  # the colour, which the page names
    "monitor.driver.sent_at",
    "monitor.driver.resend_seconds",
    "monitor.sources[].checked_at",
    "monitor.sources[].detail",
    "names_hidden",  # shown by the names missing
    "repos[].since",  # the moment behind broken_for, kept for the page to count on
    "repos[].latest.id",  # in the latest build's words
    "machines[].run.percent",  # the bar's width
    "stack.error",  # the page says supervisord is not reachable at its socket
    "stack.socket",  # named only while supervisord is not reachable
    "stack.programs[].group",  # part of the name
    "stack.programs[].pid",  # part of the description
}

# A report with a source of each kind of tile and a lamp backend that works and one that does not.
RICH_REPORT = {
    "lamp": {
        **REPORT["lamp"],
        "driver": {
            "key": "RED",
            "backends": [
                {"name": "lirc", "ok": False, "error": "lircd does not answer <on> /run/lirc", "detail": "x"},
                {"name": "virtual", "ok": True, "error": None, "detail": "showing RED & more"},
            ],
        },
    },
    "sources": [
        *REPORT["sources"],
        {"name": "nightly <main>", "kind": "jenkins", "state": "unreachable", "error": "HTTP 503 & down"},
    ],
}


def test_the_status_page_says_when_supervisord_is_not_running(client, app_config):
    response = client.get("/")
    assert response.status_code == 200
    assert b"supervisord is not reachable" in response.data
    assert str(app_config.supervisor_socket).encode() in response.data


def put_report(application, body: dict) -> None:
    token = application.extensions["appliance"].credentials.tokens["monitor"]
    response = application.test_client().put(
        "/api/monitor", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 204, response.get_json()


def test_the_status_json_twin_has_the_same_content(app, client):
    put_report(app, RICH_REPORT)
    status = assert_page_shows_its_twin(client)
    assert [s["name"] for s in status["monitor"]["sources"]] == ["integration", "nightly <main>"]
    assert status["stack"]["reachable"] is False


@pytest.mark.slow
def test_the_status_json_twin_has_the_same_programs(supervisord, tmp_path):
    (supervisord.include_dir / "demo.conf").write_text(
        "[program:idle]\ncommand = sleep 600\nautostart = false\n\n"
        "[program:once]\ncommand = true\nstartsecs = 0\nautorestart = false\n\n"
        "[group:web]\nprograms = idle, once\n"
    )
    supervisord.client.call("reloadConfig")
    supervisord.client.call("addProcessGroup", "web")
    # States whose descriptions stand still, unlike a running program's uptime.
    wait_until(
        lambda: {p.state for p in supervisord.client.processes()} == {"STOPPED", "EXITED"},
        what="web:idle stopped and web:once exited",
    )
    application = create_app(
        Config(data_dir=tmp_path / "data", stack=StackConfig(supervisor_socket=supervisord.socket))
    )
    try:
        put_report(application, RICH_REPORT)
        status = assert_page_shows_its_twin(application.test_client())
    finally:
        application.extensions["appliance"].close()
    assert [p["name"] for p in status["stack"]["programs"]] == ["web:idle", "web:once"]


def test_the_status_page_shows_the_notices_above_the_rest_escaped(tmp_path):
    notices_dir = tmp_path / "notices"
    notices_dir.mkdir()
    (notices_dir / "firstboot.json").write_text(
        '{"title": "Settings <not> applied", "message": "pi.hostname: bad\\npi.wifi.country: bad",'
        ' "action": "Fix & restart"}'
    )
    (notices_dir / "other.json").write_text('{"title": "No action", "message": "just so"}')
    # Only a full disk warns: this test's notices are not the machine's.
    server = ServerConfig(notices_dir=notices_dir, disk_warning_percent=100)
    application = create_app(Config(data_dir=tmp_path / "data", server=server))
    try:
        put_report(application, RICH_REPORT)
        client = application.test_client()
        status = assert_page_shows_its_twin(client)
        html = client.get("/").get_data(as_text=True)
    finally:
        application.extensions["appliance"].close()
    # The files' notices first, then the Pi's own state: RICH_REPORT's lirc cannot send, and no
    # supervisord runs for this application (the machine's clock may add one between them).
    titles = [notice["title"] for notice in status["notices"]]
    assert titles[:3] == ["Settings <not> applied", "No action", "The lamp cannot send through lirc"]
    assert titles[-1] == "supervisord is not reachable"
    assert "Settings &lt;not&gt; applied" in html and "Fix &amp; restart" in html
    page = parse(html)
    first_section = page.one("main").select("section")[0]
    assert first_section.attrs.get("role") == "alert"


def assert_page_shows_its_twin(client) -> dict:
    """Compare ``/`` with ``/api/status``, both ways; returns the JSON."""
    status = track_reads(client.get("/api/status").get_json())
    page = parse(client.get("/").get_data(as_text=True))
    assert shown_on(page) == expected_from(status)
    assert unread_keys(status) <= NOT_ON_THE_PAGE
    return status


def expected_from(status: dict) -> dict:
    """What the page must show of its JSON twin, in the page's words."""
    report, stack = status["monitor"], status["stack"]
    return {
        "version": f"appliance {status['version']}",
        "notices": [
            [
                notice["title"],
                " ".join(notice["message"].split()),
                *([notice["action"]] if notice["action"] else []),
            ]
            for notice in status["notices"]
        ],
        "lamp colour": report["colour"],
        "lamp meaning": report["meaning"],
        "lamp detail": f"{report['colour']} · reported {report['received_at']}",
        "backends": [
            f"{b['name']}: {b['detail']}" if b["ok"] else f"{b['name']}: cannot send: {b['error']}"
            for b in report["driver"]["backends"]
        ],
        "sources": [
            {
                "name": source["name"],
                "state": f"tone-{source['tone']} state-{source['state']}",
                "texts": [
                    source["name"],
                    source["kind"],
                    source["meaning"],
                    *([f"broken for {source['broken_for']}"] if source["broken_for"] else []),
                    *([source["error"]] if source["error"] else []),
                    *([f"since {source['since']}"] if source["since"] else []),
                    *(["open"] if source["link"] else []),
                ],
                "link": source["link"],
            }
            for source in report["sources"]
        ],
        "repos": [
            {
                "name": repo["name"],
                "tone": f"tone {repo['tone']}",
                "texts": [
                    repo["name"],
                    repo["branch"],
                    (repo["status"].replace("_", " ") if repo["status"] != "none" else "no verdict yet")
                    + (", building" if repo["building"] else ""),
                    *([f"broken for {at_least(repo)}{repo['broken_for']}"] if repo["broken_for"] else []),
                    *([f"by {repo['broken_by']}"] if repo["broken_by"] else []),
                    *(
                        [f"latest #{latest['id']} {latest['commit']}: {latest['status'].replace('_', ' ')}"]
                        if (latest := repo["latest"])
                        else []
                    ),
                    "open",
                ],
                "link": repo["link"],
            }
            for repo in status["repos"]
        ],
        "machines": [
            {
                "name": machine["name"],
                "tone": f"tone {machine['run']['tone'] if machine['run'] else 'unknown'}",
                "texts": [
                    machine["name"],
                    run["status"],
                    "",
                    f"{run['done']} of {run['total']} done"
                    + (f", {run['failed']} failed" if run["failed"] else ""),
                    f"run #{run['id']}",
                ]
                if (run := machine["run"])
                else [machine["name"], "no run yet"],
                "bar": [str(run["done"]), str(run["total"])] if run else None,
                "links": [machine["link"], *([run["link"]] if run else [])],
            }
            for machine in status["machines"]
        ],
        "unreachable socket": None if stack["reachable"] else stack["socket"],
        "programs": [[p["name"], p["state"], p["description"]] for p in stack["programs"]],
        "showroom": expected_status_section(status["showroom"]),
    }


def at_least(repo: dict) -> str:
    """A streak of failures longer than the builds the wall reads is "broken for at least"."""
    return "at least " if repo["broken_before_recent"] else ""


def shown_on(page: Element) -> dict:
    """What the status page shows, in the terms of ``expected_from``."""
    stack_error = page.one(id="stack-error")
    return {
        "version": page.one("footer").text,
        "notices": [
            [element.text for element in notice.children if isinstance(element, Element)]
            for notice in page.select(role="alert", data_notice=True)
        ],
        "lamp colour": page.one(id="lamp").attrs["data-colour"],
        "lamp meaning": page.one(id="lamp-meaning").text,
        "lamp detail": page.one(id="lamp-detail").text,
        "backends": [item.text for item in page.one(id="lamp-backends").select("li")],
        "sources": [
            {
                "name": tile.attrs["data-source"],
                "state": " ".join(name for name in tile.attrs["class"].split() if name != "tile"),
                "texts": [element.text for element in tile.children if isinstance(element, Element)],
                "link": next((a.attrs["href"] for a in tile.select("a")), None),
            }
            for tile in page.select("li", data_source=True)
        ],
        "repos": [
            {
                "name": tile.attrs["data-repo"],
                "tone": tile.attrs["class"].replace("tile tone-", "tone "),
                "texts": [element.text for element in tile.children if isinstance(element, Element)],
                "link": tile.one("a").attrs["href"],
            }
            for tile in page.select("li", data_repo=True)
        ],
        "machines": [
            {
                "name": tile.attrs["data-machine"],
                "tone": tile.attrs["class"].replace("tile tone-", "tone "),
                "texts": [element.text for element in tile.children if isinstance(element, Element)],
                "bar": [bar.attrs["aria-valuenow"], bar.attrs["aria-valuemax"]]
                if (bar := next(iter(tile.select(role="progressbar")), None))
                else None,
                "links": [a.attrs["href"] for a in tile.select("a")],
            }
            for tile in page.select("li", data_machine=True)
        ],
        "unreachable socket": None if "hidden" in stack_error.attrs else stack_error.select("code")[0].text,
        "programs": [row.cells() for row in page.select("tr", data_program=True)],
        "showroom": shown_status_section(page),
    }
