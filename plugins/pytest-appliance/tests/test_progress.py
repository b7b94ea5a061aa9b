"""The progress plugin reporting real sessions, run by pytest in a subprocess, to a fake tracker
on loopback (and, marked slow, to a real ``appliance server``)."""

import importlib
import json
import sys
import textwrap
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

FILES = {
    "test_a.py": """
        def test_pass():
            pass

        def test_fail():
            assert False
    """,
    "test_b.py": """
        import pytest

        @pytest.fixture
        def broken_setup():
            raise RuntimeError("setup")

        @pytest.fixture
        def broken_teardown():
            yield
            raise RuntimeError("teardown")

        def test_setup_error(broken_setup):
            pass

        def test_teardown_error(broken_teardown):
            pass
    """,
    "test_c.py": """
        import pytest

        def test_skipped():
            pytest.skip("not here")

        @pytest.mark.skip(reason="never")
        def test_marked_skip():
            pass

        @pytest.mark.xfail(reason="known")
        def test_xfail():
            assert False
    """,
}

STATUSES = {
    "test_a.py::test_pass": "passed",
    "test_a.py::test_fail": "failed",
    "test_b.py::test_setup_error": "error",
    "test_b.py::test_teardown_error": "error",
    "test_c.py::test_skipped": "warning",
    "test_c.py::test_marked_skip": "warning",
    "test_c.py::test_xfail": "warning",
}
OUTCOMES = {"passed": 2, "failed": 1, "errors": 2, "skipped": 2, "xfailed": 1}
RUN = 7


class FakeTracker(ThreadingHTTPServer):
    """Records each POST and answers as the tracker does, after ``delay`` seconds (cut short by
    ``release``) and with ``status`` if one is set."""

    daemon_threads = True

    def __init__(self, delay: float = 0, status: int | None = None):
        super().__init__(("127.0.0.1", 0), Handler)
        self.posts: list[tuple[str, dict, str | None]] = []
        self.delay = delay
        self.status = status
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeTracker

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.posts.append((self.path, body, self.headers.get("Authorization")))
        self.server.release.wait(self.server.delay)
        if self.server.status:
            self.answer(self.server.status, {"ok": False, "error": "no", "status": self.server.status})
        elif self.path == "/tm_api/dry_run/":
            tests = [test for scenario in body["master_scenario"]["scenarios"] for test in scenario["tests"]]
            listed = [{"test": 100 + number, **test} for number, test in enumerate(tests)]
            self.answer(201, {"ok": True, "machine_name": body["machine_name"], "run": RUN, "tests": listed})
        else:
            self.answer(202, {"ok": True, "run": body.get("run"), "test": body.get("test"), "status": "x"})

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def tracker_factory():
    servers = []

    def start(**kwargs) -> FakeTracker:
        server = FakeTracker(**kwargs)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def tracker(tracker_factory) -> FakeTracker:
    return tracker_factory()


@pytest.fixture
def project(pytester):
    for name, text in FILES.items():
        (pytester.path / name).write_text(textwrap.dedent(text))
    return pytester


def warnings_of(result) -> list[str]:
    return [line for line in result.outlines if line.startswith("progress:")]


def replay(tracker) -> dict[str, str]:
    """Each test's status once the tracker has taken every report, by ``file_path::file_name``.
    Fails on a second dry run, on what the tracker would refuse (a start of a test not waiting, a
    stop of one not running) and on a start while another test runs, which would mark that one
    ``unknown``."""
    path, dry_run, _ = tracker.posts[0]
    assert path == "/tm_api/dry_run/"
    tests = [test for scenario in dry_run["master_scenario"]["scenarios"] for test in scenario["tests"]]
    keys = [f"{test['file_path']}::{test['file_name']}" for test in tests]
    statuses = dict.fromkeys(keys, "waiting")
    running = None
    for path, body, _ in tracker.posts[1:]:
        assert path in ("/tm_api/test_start/", "/tm_api/test_stop/"), path
        key = keys[body["test"] - 100]
        assert (body["run"], f"{body['file_path']}::{body['file_name']}") == (RUN, key)
        if path == "/tm_api/test_start/":
            assert statuses[key] == "waiting", key
            assert running is None, f"{key} started while {running} ran"
            statuses[key], running = "running", key
        else:
            assert statuses[key] == "running", key
            statuses[key] = body["status"]
            running = None
            if body["status"] == "cancelled":  # the seed's rule: the rest of the run with it
                statuses = {k: "cancelled" if v in ("waiting", "running") else v for k, v in statuses.items()}
    return statuses


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_session_is_reported_live(project, tracker, monkeypatch):
    monkeypatch.setenv("APPLIANCE_PROGRESS_TOKEN", "s3cret")
    result = project.runpytest_subprocess("--progress-url", tracker.url, "--progress-machine", "rig-1")
    result.assert_outcomes(**OUTCOMES)
    assert warnings_of(result) == []

    (path, dry_run, auth), *reports = tracker.posts
    assert path == "/tm_api/dry_run/"
    assert auth == "Bearer s3cret"
    assert dry_run["machine_name"] == "rig-1"
    master = dry_run["master_scenario"]
    assert master["file_name"] == project.path.name
    assert {
        scenario["file_path"]: [test["file_name"] for test in scenario["tests"]]
        for scenario in master["scenarios"]
    } == {
        "test_a.py": ["test_pass", "test_fail"],
        "test_b.py": ["test_setup_error", "test_teardown_error"],
        "test_c.py": ["test_skipped", "test_marked_skip", "test_xfail"],
    }
    assert all(test["file_path"] == s["file_path"] for s in master["scenarios"] for test in s["tests"])

    # Each test: a start, then a stop with its status, the next test only after; exact ids.
    assert len(reports) == 2 * len(STATUSES)
    for number, (nodeid, expected) in enumerate(STATUSES.items()):
        (start_path, start, start_auth), (stop_path, stop, _) = reports[2 * number : 2 * number + 2]
        file_path, file_name = nodeid.split("::")
        assert (start_path, stop_path) == ("/tm_api/test_start/", "/tm_api/test_stop/")
        assert start_auth == "Bearer s3cret"
        for body in (start, stop):
            assert body["machine_name"] == "rig-1"
            assert (body["file_path"], body["file_name"]) == (file_path, file_name)
            assert (body["run"], body["test"]) == (RUN, 100 + number)
        assert "timestamp_start" in start
        assert "timestamp_stop" in stop
        assert stop["status"] == expected, nodeid


def test_ini_keys_and_a_token_file(project, tracker, monkeypatch):
    monkeypatch.setenv("APPLIANCE_PROGRESS_TOKEN", "from-env")
    (project.path / "token").write_text("from-file\n")
    project.makeini(
        f"[pytest]\nprogress_url = {tracker.url}\nprogress_machine = rig-2\nprogress_token_file = token\n"
    )
    result = project.runpytest_subprocess("test_a.py")
    result.assert_outcomes(passed=1, failed=1)
    assert [(path, body["machine_name"], auth) for path, body, auth in tracker.posts][:2] == [
        ("/tm_api/dry_run/", "rig-2", "Bearer from-file"),
        ("/tm_api/test_start/", "rig-2", "Bearer from-file"),
    ]
    assert len(tracker.posts) == 5


def test_no_token_option_on_the_command_line(project, tracker):
    result = project.runpytest_subprocess("--progress-url", tracker.url, "--progress-token", "x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert tracker.posts == []


def test_a_missing_token_file_or_a_bad_url_is_a_usage_error(project, tracker):
    result = project.runpytest_subprocess("--progress-url", tracker.url, "--progress-token-file", "nothing")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*progress token file*nothing*"])
    result = project.runpytest_subprocess("--progress-url", "pi.local:8080")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is not an http(s) URL*"])


def test_inert_without_the_url(pytester, tracker):
    pytester.makepyfile(
        """
        def test_registered(request):
            assert request.config.pluginmanager.get_plugin("appliance-progress") is None
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert warnings_of(result) == []


def test_a_tracker_that_is_down_changes_nothing_but_one_line(project):
    url = f"http://127.0.0.1:{closed_port()}"
    result = project.runpytest_subprocess("--progress-url", url)
    result.assert_outcomes(**OUTCOMES)
    (line,) = warnings_of(result)
    assert f"the tracker at {url} did not answer" in line
    assert "15 of 15 reports not sent" in line  # the dry run, 7 starts and 7 stops


def test_a_slow_tracker_is_given_up_on(project, tracker_factory):
    tracker = tracker_factory(delay=5)
    result = project.runpytest_subprocess("--progress-url", tracker.url)
    result.assert_outcomes(**OUTCOMES)
    (line,) = warnings_of(result)
    assert "did not answer (timed out)" in line or "took more than 2 s" in line, line
    assert "15 of 15 reports not sent" in line
    assert [path for path, _, _ in tracker.posts] in ([], ["/tm_api/dry_run/"])  # nothing after it


def test_a_refused_dry_run_ends_the_reports(project, tracker_factory):
    tracker = tracker_factory(status=401)
    result = project.runpytest_subprocess("--progress-url", tracker.url)
    result.assert_outcomes(**OUTCOMES)
    (line,) = warnings_of(result)
    assert "refused /tm_api/dry_run/: 401 no" in line
    assert len(tracker.posts) == 1


def test_a_session_stopped_early_cancels_what_never_ran(project, tracker):
    result = project.runpytest_subprocess("--progress-url", tracker.url, "-x")
    result.assert_outcomes(passed=1, failed=1)
    reports = [(path.split("/")[2], body["test"], body.get("status")) for path, body, _ in tracker.posts[1:]]
    assert reports == [
        ("test_start", 100, None),
        ("test_stop", 100, "passed"),
        ("test_start", 101, None),
        ("test_stop", 101, "failed"),
        ("test_start", 102, None),
        ("test_stop", 102, "cancelled"),  # the tracker cancels every waiting test with it
    ]


ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_a_real_tracker(project, tmp_path):
    harness = real_harness()
    server = harness.ApplianceServer(tmp_path / "server")
    server.start()
    try:
        token = server.data_dir / "secrets" / "progress-token"
        result = project.runpytest_subprocess(
            "--progress-url",
            server.url,
            "--progress-machine",
            "rig-real",
            "--progress-token-file",
            str(token),
        )
        result.assert_outcomes(**OUTCOMES)
        assert warnings_of(result) == []
        run = last_run(server.url, "rig-real")
    finally:
        server.stop()
    got = {
        f"{scenario['file_name']}::{test['file_name']}": test["status"]
        for scenario in run["scenarios"]
        for test in scenario["tests"]
    }
    assert got == STATUSES
    assert run["status"] == "failed"


def real_harness():
    """The appliance's test harness (a real ``appliance server``), from the repository around."""
    if not (ROOT / "tests" / "harness.py").is_file():
        pytest.skip("not in the appliance's repository")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("tests.harness")


def last_run(url: str, machine_name: str) -> dict:
    """The machine's latest run as a real tracker shows it (the seed's read endpoints)."""
    with urllib.request.urlopen(url + "/tm_api/machines/", timeout=10) as response:  # noqa: S310
        (machine,) = [m for m in json.load(response)["results"] if m["machine_name"] == machine_name]
    with urllib.request.urlopen(f"{url}/tm_api/machine_last_data/{machine['pk']}/", timeout=10) as response:  # noqa: S310
        return json.load(response)["last_master_scenario"]


class FakeSender:
    def __init__(self):
        self.sent = []

    def send(self, report):
        self.sent.append(report)

    def send_all(self, reports):
        self.sent += reports


def test_an_interrupted_session_cancels_the_test_it_stopped_in(pytester, tracker):
    pytester.makepyfile(
        """
        def test_pass():
            pass

        def test_interrupted():
            raise KeyboardInterrupt

        def test_later():
            pass
        """
    )
    result = pytester.runpytest_subprocess("--progress-url", tracker.url)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert warnings_of(result) == []
    reports = [(path.split("/")[2], body["test"], body.get("status")) for path, body, _ in tracker.posts[1:]]
    assert reports == [
        ("test_start", 100, None),
        ("test_stop", 100, "passed"),
        ("test_start", 101, None),
        ("test_stop", 101, "cancelled"),  # test_later, waiting, is cancelled with it
    ]
