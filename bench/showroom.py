#!/usr/bin/env python3
"""The showroom on a real supervisord and Apache, with the seed's test recipes:

(a) deploy + start of a process demo (test1) and of a vhost demo (testapache), each `--runs`
    times (the first testapache start starts Apache, the later ones reload it);
(b) `installed()` (the listing) with 50 deployed demos: its time over `--lists` calls, and how
    many XML-RPC calls one listing makes;
(c) the resident memory of the showroom's supervisord with no demo running, and of it and
    Apache with one vhost demo served.

    .venv/bin/python bench/showroom.py [--runs 5] [--lists 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from support import describe, rss_kib

from appliance.showroom.demos import Showroom
from tests.harness import ROOT, ShowroomDaemon, counting_calls, processes_inside

RECIPES = ROOT / "tests" / "showroom" / "fixtures" / "recipes"


def deploy_and_start(showroom: Showroom, type_: str, runs: int) -> None:
    deploys, starts = [], []
    for n in range(runs):
        name = f"{type_}-{n}"
        began = time.perf_counter()
        showroom.deploy(type_, name)
        deployed = time.perf_counter()
        showroom.demo(name).start()
        deploys.append(deployed - began)
        starts.append(time.perf_counter() - deployed)
    totals = [deploy + start for deploy, start in zip(deploys, starts, strict=True)]
    print(f"(a) {type_}: deploy + start {describe(totals)}")
    print(f"    deploy alone {describe(deploys)}; start alone {describe(starts)}")


def listing(showroom: Showroom, demos: int, lists: int) -> None:
    for n in range(demos):
        showroom.deploy("test1", f"listed-{n:02d}")
    calls = counting_calls(showroom.supervisor)
    times = []
    for _ in range(lists):
        began = time.perf_counter()
        listed = showroom.installed()
        times.append(time.perf_counter() - began)
    del showroom.supervisor.call
    assert len(listed) == demos
    print(f"(b) installed() with {demos} demos: {describe(times, digits=4)}")
    print(f"    XML-RPC calls per listing: {len(calls) // lists} ({', '.join(sorted(set(calls)))})")


def destroy_all(showroom: Showroom) -> None:
    for demo in showroom.installed():
        showroom.demo(demo["name"]).destroy()


def memory(daemon: ShowroomDaemon, showroom: Showroom, label: str) -> None:
    time.sleep(2)  # idle
    supervisord = rss_kib(daemon.process.pid)
    apache = [rss_kib(pid) for pid in processes_inside(showroom.layout.apache)]
    served = f"; Apache {sum(apache)} KiB RSS over {len(apache)} processes" if apache else ""
    print(f"(c) {label}: supervisord {supervisord} KiB RSS{served}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--lists", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-showroom-") as directory:
        daemon = ShowroomDaemon(Path(directory), RECIPES)
        daemon.start()
        try:
            showroom = Showroom(daemon.config)
            memory(daemon, showroom, "no demo")
            for type_ in ("test1", "testapache"):
                deploy_and_start(showroom, type_, args.runs)
            destroy_all(showroom)
            listing(showroom, 50, args.lists)
            destroy_all(showroom)
            showroom.deploy("testapache", "served")
            showroom.demo("served").start()
            memory(daemon, showroom, "one vhost demo served")
        finally:
            daemon.stop()


if __name__ == "__main__":
    main()
