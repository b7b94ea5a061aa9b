"""The wall at ``/``: its tiles for the CI's repositories and the test machines, the names it may
leave out, what an empty appliance tells a newcomer, and the contrast of its palette."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.ci.settings import CIConfig, CIRepoConfig
from appliance.cli import main
from appliance.config import Config, ServerConfig, load_file
from appliance.web import create_app, wall
from tests.ci.conftest import admin_auth
from tests.progress.conftest import dry_run, start, stop
from tests.twins import parse
from tests.web.test_status import RICH_REPORT, assert_page_shows_its_twin, put_report

STYLE = Path(__file__).resolve().parents[2] / "appliance" / "web" / "static" / "style.css"


def build(client, auth, number: int, author: str, status: str) -> int:
    """Commit ``number`` of repository ``app`` built by runner r1 to ``status``, through the API."""
    body = {
        "repo": "app",
        "commits": [{"sha": f"{number:040x}", "author": author, "message": f"commit {number}"}],
    }
    assert client.post("/api/ci/commits", json=body, headers=auth).status_code == 200
    assert client.post("/api/ci/runners/r1/register", json={"capacity": 1}, headers=auth).status_code == 200
    work = client.post("/api/ci/runners/r1/next?wait=0", headers=auth).json
    result = {"runner": "r1", "status": status}
    answer = client.post(f"/api/ci/builds/{work['build']}/attempts/1/result", json=result, headers=auth)
    assert answer.status_code == 200, answer.json
    return work["build"]


@pytest.fixture
def make_wall(tmp_path):
    """The app with the monitor's report, repository ``app`` built three times (passed, then
    failed by Bob, then failed by Cy), a test machine two tests into its run and one whose first
    test failed."""
    made = []

    def make(hide_names: bool = False):
        config = Config(
            data_dir=tmp_path / f"data{len(made)}",
            server=ServerConfig(hide_names=hide_names),
            ci=CIConfig(repos=[CIRepoConfig(name="app", url="/srv/app.git")]),
        )
        application = create_app(config)
        made.append(application)
        put_report(application, RICH_REPORT)
        client, auth = application.test_client(), admin_auth(application)
        build(client, auth, 1, "Ada Lovelace", "passed")
        build(client, auth, 2, "Bob Breaker", "failed")
        build(client, auth, 3, "Cy Coder", "failed")
        report = {
            "Authorization": "Bearer " + application.extensions["appliance"].credentials.tokens["progress"]
        }
        reports = [("dry_run", dry_run("bench #1"), 201)]
        for name in ("01_01_test_lamp.py", "01_02_test_lamp.py"):
            reports += [("test_start", start(name, machine="bench #1"), 202)]
            reports += [("test_stop", stop(name, "passed", machine="bench #1"), 202)]
        reports += [("dry_run", dry_run("bench #2"), 201)]
        reports += [("test_start", start("01_01_test_lamp.py", machine="bench #2"), 202)]
        reports += [("test_stop", stop("01_01_test_lamp.py", "failed", machine="bench #2"), 202)]
        for path, body, expected in reports:
            assert client.post(f"/tm_api/{path}/", json=body, headers=report).status_code == expected
        return application

    yield make
    for application in made:
        application.extensions["appliance"].close()


def test_a_broken_repository_says_since_when_and_whose_commit_broke_it(make_wall):
    client = make_wall().test_client()
    status = assert_page_shows_its_twin(client)
    [repo] = status["repos"]
    assert (repo["status"], repo["tone"], repo["link"]) == ("failed", "bad", "/ci/builds/2")
    assert repo["broken_by"] == "Bob Breaker"  # the first failure after a pass, not the latest
    assert repo["broken_for"] == "under a minute" and repo["latest"]["id"] == 3
    passing, failing = status["machines"]
    assert passing["name"] == "bench #1"
    assert (passing["run"]["done"], passing["run"]["total"], passing["run"]["tone"]) == (2, 4, "busy")
    # Still going, and red already: a test failed.
    assert (failing["run"]["status"], failing["run"]["failed"], failing["run"]["tone"]) == (
        "waiting",
        1,
        "bad",
    )
    assert wall.is_empty(status) is False
    assert b"getting-started" not in client.get("/").data


@pytest.mark.parametrize(
    ("failed", "at_least"), [(wall.RECENT_BUILDS - 1, False), (wall.RECENT_BUILDS, True)]
)
def test_a_streak_longer_than_the_wall_reads_is_broken_for_at_least(make_ci_app, failed, at_least):
    application = make_ci_app(repos=[CIRepoConfig(name="app", url="/srv/app.git")])
    put_report(application, RICH_REPORT)
    client, auth = application.test_client(), admin_auth(application)
    build(client, auth, 0, "Ada", "passed")
    for number in range(1, failed + 1):
        build(client, auth, number, "Bob", "failed")
    [repo] = assert_page_shows_its_twin(client)["repos"]
    assert repo["broken_before_recent"] is at_least
    text = "broken for at least under a minute" if at_least else "broken for under a minute"
    assert text in parse(client.get("/").get_data(as_text=True)).one("li", data_repo="app").text
    assert repo["broken_by"] == (None if at_least else "Bob")  # the first failure, when the wall sees it


@pytest.mark.parametrize(("hide_names", "query"), [(True, ""), (False, "?names=0")])
def test_hidden_names_are_neither_on_the_page_nor_in_its_json(make_wall, hide_names, query):
    application = make_wall(hide_names=hide_names)
    client = application.test_client()
    page = client.get("/" + query).get_data(as_text=True)
    twin = client.get("/api/status" + query).get_data(as_text=True)
    for name in ("Ada Lovelace", "Bob Breaker", "Cy Coder"):
        assert name not in page and name not in twin
    assert client.get("/api/status" + query).get_json()["repos"][0]["broken_by"] is None
    # What the wall follows on /events names nobody either (ci.build, which /ci follows, does).
    events = application.extensions["appliance"].bus.history_after(0)
    wall_topics = {"monitor", "stack", "showroom", "progress.run", "ci.repo"}
    assert {e.topic for e in events} >= {"ci.repo", "progress.run"}
    assert not [e for e in events if e.topic in wall_topics and "Bob Breaker" in e.sse]


def test_names_are_shown_unless_hidden(make_wall):
    assert "by Bob Breaker" in make_wall().test_client().get("/").get_data(as_text=True)


def test_an_empty_appliance_says_what_to_paste_and_the_lines_load(client, tmp_path):
    page = client.get("/").get_data(as_text=True)
    assert 'id="getting-started"' in page
    pasted = re.findall(r'<pre class="paste" data-paste="(\w+)">(.*?)</pre>', page, re.S)
    shown = {name: html.unescape(text) for name, text in pasted}
    assert shown == {"source": wall.FIRST_SOURCE, "repo": wall.FIRST_REPO, "simulate": wall.SIMULATE_COMMAND}
    config_file = tmp_path / "appliance.toml"
    config_file.write_text(f'data_dir = "{tmp_path / "data"}"\n\n{wall.FIRST_SOURCE}\n{wall.FIRST_REPO}')
    config = load_file(config_file)
    assert [s.url for s in config.monitor.cctray] == ["https://ci.example.com/cc.xml"]
    assert [(r.name, r.command) for r in config.ci.repos] == [("my-project", "python -m pytest")]
    # The command is the real one, its options too (--help parses them without running).
    args = wall.SIMULATE_COMMAND.split()[1:]
    result = CliRunner().invoke(main, [*args, "--help"])
    assert result.exit_code == 0 and "--machines" in result.output


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0, "under a minute"), (59, "under a minute"), (60, "1 min"), (3599, "59 min"), (3600, "1 h 0 min"),
     (2 * 3600 + 5 * 60 + 59, "2 h 5 min"), (86399, "23 h 59 min"), (3 * 86400 + 4 * 3600 + 3599, "3 d 4 h")],
)  # fmt: skip
def test_durations_are_said_in_words_a_room_reads(seconds, words):
    assert wall.duration_words(seconds) == words


# --- contrast (WCAG 2.x) -------------------------------------------------------------------------

# Every (text, background) pair of custom properties that style.css draws text with.
TEXT_ON_BACKGROUND = [
    ("fg", "bg"), ("fg", "panel"), ("muted", "panel"), ("muted", "bg"),
    ("ok", "panel"), ("bad", "panel"), ("busy", "panel"), ("warn", "panel"), ("warn", "bg"),
    ("header-fg", "header-bg"), ("nav-fg", "header-bg"),
    ("header-fg", "badge-idle"), ("header-fg", "ok"), ("header-fg", "bad"),
    ("on-tone", "tone-good"), ("on-tone", "tone-bad"), ("on-tone", "tone-busy"), ("on-tone", "tone-unknown"),
    ("stale-fg", "stale-bg"), ("code-fg", "code-bg"),
]  # fmt: skip


def custom_properties(css: str) -> dict[str, str]:
    root = re.search(r":root\s*{(.*?)}", css, re.S).group(1)
    return dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", root))


def luminance(colour: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(colour[i : i + 2], 16)) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(first: str, second: str) -> float:
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_is_computed_right():
    assert contrast("#000000", "#ffffff") == pytest.approx(21)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic near miss


@pytest.mark.parametrize(("text", "background"), TEXT_ON_BACKGROUND)
def test_text_contrast_meets_wcag_aa(text, background):
    colours = custom_properties(STYLE.read_text())
    assert contrast(colours[text], colours[background]) >= 4.5, (text, background)


def greyed(colour: str) -> str:
    """``colour`` under CSS's ``grayscale(1)`` (Filter Effects: the luminance weights, on sRGB values)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    grey = round(0.2126 * r + 0.7152 * g + 0.0722 * b)
    return f"#{grey:02x}{grey:02x}{grey:02x}"


@pytest.mark.parametrize(("text", "background"), TEXT_ON_BACKGROUND)
def test_text_contrast_meets_wcag_aa_on_a_stale_wall_too(text, background):
    colours = custom_properties(STYLE.read_text())
    assert contrast(greyed(colours[text]), greyed(colours[background])) >= 4.5, (text, background)


def test_every_text_colour_of_the_palette_is_checked():
    used = {name for pair in TEXT_ON_BACKGROUND for name in pair}
    assert set(custom_properties(STYLE.read_text())) - used == {"line"}  # borders only


def test_the_other_pages_share_the_navigation_and_mark_the_current_one(client):
    for path, label in [("/", "Wall"), ("/ci", "CI"), ("/progress", "Tests"), ("/showroom", "Showroom")]:
        page = client.get(path).get_data(as_text=True)
        assert re.search(rf'<a href="{re.escape(path)}"[^>]*aria-current="page">{label}</a>', page), path
        assert page.count('aria-current="page"') == 1
        assert "<style>" not in page  # one stylesheet, style.css


def test_kiosk_is_a_class_on_the_body_of_any_page(client):
    assert '<body class="kiosk">' in client.get("/?kiosk=1").get_data(as_text=True)
    assert '<body class="kiosk">' not in client.get("/").get_data(as_text=True)
