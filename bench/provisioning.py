#!/usr/bin/env python3
"""How long provisioning takes, in a Molecule scenario's container (podman):

(a) site.yml --check on the fresh host (after prepare);
(b) the converge from scratch;
(c) the idempotent re-run (Molecule's idempotence step: no task may change);
(d) site.yml --check --diff on the provisioned host, and the changes it reports (0 expected).

    .venv/bin/python bench/provisioning.py [--scenario default|trixie|arm64]

Needs what `make molecule` sets up (.venv-ansible, podman); takes the scenario's container down
at the end. Each step is timed as a whole `molecule <step>` (its own start-up included).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def molecule(scenario: str, step: str, *arguments: str) -> tuple[float, str]:
    began = time.perf_counter()
    result = subprocess.run(
        [str(ROOT / "scripts" / "molecule-test"), scenario, step, *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - began
    if result.returncode != 0:
        sys.exit(f"molecule {step} failed:\n{result.stdout[-4000:]}{result.stderr[-2000:]}")
    return elapsed, result.stdout


def recap(output: str) -> str:
    lines = [line for line in output.splitlines() if re.match(r"^\S+\s+: ok=", line)]
    return re.sub(r"\s+", " ", lines[-1]) if lines else "(no recap)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="default")
    scenario = parser.parse_args().scenario
    try:
        molecule(scenario, "destroy")
        create, _ = molecule(scenario, "create")
        molecule(scenario, "prepare")
        fresh_check, fresh_output = molecule(scenario, "converge", "--", "--check")
        converge, converge_output = molecule(scenario, "converge")
        idempotence, _ = molecule(scenario, "idempotence")
        check, check_output = molecule(scenario, "converge", "--", "--check", "--diff")
    finally:
        subprocess.run(
            [str(ROOT / "scripts" / "molecule-test"), scenario, "destroy"], cwd=ROOT, capture_output=True
        )
    print(f"scenario {scenario}")
    print(f"create (podman)              {create:6.1f} s")
    print(f"check on the fresh host      {fresh_check:6.1f} s   {recap(fresh_output)}")
    print(f"converge from scratch        {converge:6.1f} s   {recap(converge_output)}")
    print(f"idempotent re-run            {idempotence:6.1f} s   (no change, or Molecule fails it)")
    print(f"check --diff, provisioned    {check:6.1f} s   {recap(check_output)}")


if __name__ == "__main__":
    main()
