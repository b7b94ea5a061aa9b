"""What only the benchmarks need: a process's memory and a summary of measured times.

The programs they start, and the waits, ports and HTTP calls that go with them, are the tests'
own: ``tests/harness.py``.
"""

from __future__ import annotations

import statistics
from pathlib import Path


def rss_kib(pid: int) -> int:
    """Resident memory (VmRSS) of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def describe(values: list[float], digits: int = 3, p95: bool = False) -> str:
    """``median …, [p95 …,] min …, max … over N`` of durations in seconds."""
    spread = [("median", statistics.median(values))]
    if p95:
        spread.append(("p95", statistics.quantiles(values, n=20, method="inclusive")[18]))
    spread += [("min", min(values)), ("max", max(values))]
    return ", ".join(f"{name} {value:.{digits}f} s" for name, value in spread) + f" over {len(values)}"
