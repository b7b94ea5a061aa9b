#!/usr/bin/env python3
"""Latency from a state change at a source to the IR frame leaving lircd, on real processes.

A real lircd with Debian's `file` driver records every frame it sends as pulse/space lines; this
script watches that file grow (every millisecond) and decodes the frames with the NEC decoder the
tests use (`appliance.lamp.nec`). `appliance monitor` drives it through the real irsend, and
reports to a real `appliance server`.

1. A polled source: a fake Jenkins job (the tests' fake HTTP service) read every
   `--interval` seconds (1 s). Its last build turns SUCCESS / FAILURE in turn, at phases spread
   over the interval; the latency runs from the change to the GREEN / RED frame (target: the
   interval + at most 100 ms), and from the first poll that saw the change to the frame.
2. The appliance's own CI, event-driven: the server has one `[[ci.repos]]`; this script is the
   runner (the CI's HTTP API, with the token). Each build is queued, claimed, then ends passed or
   failed in turn; the latency runs from the result POST to the GREEN / RED frame (and from the
   commits POST to the CYAN / PINK frame). Target: at most 250 ms.

    .venv/bin/python bench/lamp_latency.py [--changes 20] [--interval 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from support import describe

from appliance.lamp.keys import CODES
from tests.harness import (
    ApplianceServer,
    LircDaemon,
    ci_config,
    http_json,
    start_appliance,
    stop_process,
    wait_until,
    write_config,
)
from tests.monitor.fakes import Answer, FakeService

KEYS = {code: key for key, code in CODES.items()}
JOB = "/job/bench"
LAST_BUILD = f"{JOB}/lastBuild/api/json"
REPO = {"name": "app", "url": "/srv/app.git"}


def wait(condition):
    """A millisecond poll: the wait itself must not blur the latency being measured."""
    return wait_until(condition, timeout=30.0, interval=0.001)


def keys(lircd: LircDaemon) -> list[str]:
    """The keys of the frames lircd sent so far."""
    return [KEYS[code] for code in lircd.codes()]


def next_frame(lircd: LircDaemon, sent_before: int) -> tuple[str, float]:
    """The key of the first frame after the first ``sent_before`` ones, and when it was seen."""
    sent = wait(lambda: (frames := keys(lircd))[sent_before:] and frames)
    return sent[sent_before], time.monotonic()


def lamp_config(lircd: LircDaemon) -> str:
    return f'\n[lamp]\nbackend = "lirc"\nresend_seconds = 3600\n\n[lamp.lirc]\nsocket = "{lircd.socket}"\n'


def start_monitor(server: ApplianceServer, lircd: LircDaemon, name: str, sources: str):
    """``appliance monitor`` reporting to ``server``, driving ``lircd``, following ``sources``."""
    config = write_config(
        server.directory / f"{name}.toml", server.data_dir, server.port, lamp_config(lircd) + sources
    )
    return start_appliance("monitor", config=config, log=server.directory / f"{name}.log")


def post(server: ApplianceServer, path: str, body: object = None) -> dict | None:
    """What the runner sends, with the token."""
    headers = {"Authorization": f"Bearer {server.token}"}
    status, answer = http_json(server.url + path, "POST", body if body is not None else {}, headers)
    assert status in (200, 201), (path, status, answer)
    return answer


def jenkins_build(number: int, result: str) -> Answer:
    body = {"number": number, "url": f"{JOB}/{number}/", "result": result, "building": False}
    return Answer(body=json.dumps(body).encode())


def polled(
    server: ApplianceServer, lircd: LircDaemon, changes: int, interval: float
) -> tuple[list[float], list[float]]:
    job = FakeService().start()
    job.answer(LAST_BUILD, jenkins_build(1, "SUCCESS"))
    jenkins = f'\n[[monitor.jenkins]]\njob = "{job.url}{JOB}"\ninterval = {interval}\n'
    monitor = start_monitor(server, lircd, "polled", jenkins)
    try:
        wait(lambda: keys(lircd)[-1:] == ["GREEN"])
        latencies, after_poll = [], []
        for n in range(changes):
            result, key = ("FAILURE", "RED") if n % 2 == 0 else ("SUCCESS", "GREEN")
            time.sleep(interval * ((n * 0.618) % 1))  # spread over the phases of the poll
            sent = len(keys(lircd))
            build = jenkins_build(n + 2, result)
            job.answer(LAST_BUILD, build)
            changed = time.monotonic()
            seen, at = next_frame(lircd, sent)
            assert seen == key, (seen, key)
            latencies.append(at - changed)
            after_poll.append(
                at - next(read.at for read in job.requests_to(LAST_BUILD) if read.answer is build)
            )
        return latencies, after_poll
    finally:
        stop_process(monitor)
        job.stop()


def own_ci(server: ApplianceServer, lircd: LircDaemon, changes: int) -> tuple[list[float], list[float]]:
    monitor = start_monitor(server, lircd, "own-ci", ci_config([REPO]))
    post(server, "/api/ci/runners/bench/register", {"capacity": 1})
    try:
        wait(lambda: keys(lircd)[-1:] == ["LIGHT_BLUE"])  # no build yet
        results, queued = [], []
        for n in range(changes):
            status, key = ("passed", "GREEN") if n % 2 == 0 else ("failed", "RED")
            building = "PINK" if n % 2 == 0 and n > 0 else "CYAN"  # after the last build's failure or not
            time.sleep(0.3)  # irsend returns once lircd has sent the last frame: start from a quiet lamp
            sent = len(keys(lircd))
            began = time.monotonic()
            commit = {"sha": f"{n + 1:040x}", "author": "Bench", "message": f"build {n}"}
            post(server, "/api/ci/commits", {"repo": {**REPO, "branch": "main"}, "commits": [commit]})
            seen, at = next_frame(lircd, sent)
            assert seen == building, (seen, building)
            queued.append(at - began)
            work = post(server, "/api/ci/runners/bench/next?wait=0")
            time.sleep(0.3)  # the running build's event is handled: the result comes alone
            sent = len(keys(lircd))
            began = time.monotonic()
            post(
                server,
                f"/api/ci/builds/{work['build']}/attempts/{work['attempt']}/result",
                {"runner": "bench", "status": status},
            )
            seen, at = next_frame(lircd, sent)
            assert seen == key, (seen, key)
            results.append(at - began)
        return results, queued
    finally:
        stop_process(monitor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval of the polled source")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-lamp-") as tmp:
        root = Path(tmp)
        lircd = LircDaemon(root / "lirc")
        server = ApplianceServer(root / "server")
        try:
            lircd.start()
            # The server has one [[ci.repos]], which the own-CI monitor follows.
            server.extra_config = lamp_config(lircd) + ci_config([REPO])
            server.start()
            latencies, after_poll = polled(server, lircd, args.changes, args.interval)
            print(
                f"polled source (Jenkins job, interval {args.interval:g} s), change -> frame: "
                f"{describe(latencies, p95=True)} (target <= {args.interval + 0.1:g} s)"
            )
            print(
                f"polled source, the first poll after the change -> frame: {describe(after_poll, p95=True)}"
            )
            results, queued = own_ci(server, lircd, args.changes)
            print(f"own CI (events), result POST -> frame: {describe(results, p95=True)} (target <= 0.25 s)")
            print(f"own CI (events), commits POST -> building frame: {describe(queued, p95=True)}")
        finally:
            server.stop()
            lircd.stop()


if __name__ == "__main__":
    main()
