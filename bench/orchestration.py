"""How well an orchestrated run keeps time (docs/performance.md).

A 10 s description with events every 0.1 s, 1 s and 3 s, run by pytest in a subprocess with the
installed plugin. Prints how far the whole pytest run overshoots 10 s beyond its own start-up
(pytest with the plugin and no run, measured the same way) and each firing's jitter (fired - due).
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SECONDS = 10
EVENTS = """
    import json, pathlib, time

    OUT = pathlib.Path(__file__).parent / "firings.jsonl"

    def _record(name):
        with OUT.open("a") as out:
            out.write(json.dumps([name, time.monotonic()]) + "\\n")

    def every_100ms():
        _record("every_100ms")

    def every_1s():
        _record("every_1s")

    def every_3s():
        _record("every_3s")
"""


def timed_pytest(project: Path, *args: str) -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "pytest.ini").write_text(
            "[pytest]\norchestration_descriptions = descriptions\norchestration_sources = events.py\n"
        )
        (project / "descriptions").mkdir()
        intervals = {"every_100ms": 0.1, "every_1s": 1, "every_3s": 3}
        (project / "descriptions" / "bench.json").write_text(
            json.dumps(
                {
                    "test_name": "bench",
                    "total_hours": SECONDS / 3600,
                    "events": [
                        {"name": name, "interval_sec": interval} for name, interval in intervals.items()
                    ],
                }
            )
        )
        (project / "events.py").write_text(textwrap.dedent(EVENTS))
        (project / "test_nothing.py").write_text("def test_nothing():\n    pass\n")
        startup = timed_pytest(project, "test_nothing.py")
        whole = timed_pytest(project, "--run-orch=bench")
        firings = [json.loads(line) for line in (project / "firings.jsonl").read_text().splitlines()]
    # Every event fires at startup; the earliest firing stands for the run's start.
    start = min(at for _, at in firings)
    jitter = []
    for name, interval in intervals.items():
        times = sorted(at - start for event, at in firings if event == name)
        jitter += [at - k * interval for k, at in enumerate(times)]
        print(f"{name}: {len(times)} firings (expected {math.ceil(SECONDS / interval)})")
    p99 = statistics.quantiles(jitter, n=100, method="inclusive")[98]
    print(f"pytest start-up and teardown alone: {startup:.3f} s")
    print(
        f"whole run {whole:.3f} s; overshoot beyond {SECONDS} s + start-up: "
        f"{(whole - SECONDS - startup) * 1000:.0f} ms"
    )
    print(
        f"jitter over {len(jitter)} firings: p50 {statistics.median(jitter) * 1000:.2f} ms, "
        f"p99 {p99 * 1000:.2f} ms, max {max(jitter) * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
