"""Fleet deploy wall time against the lab with 1, 3, 10 and 20 clinics.

Each size gets a fresh lab of its own (temporary state, free ports) on 1.0.0; the bench times
`ansible-playbook playbooks/deploy.yml -e deploy_version=1.1.0` with the default serial
([1, "25%", "100%"]) and prints the wall time per size and T(N)/T(1). The goal is that the cost
grows with the number of batches (three for every size above 2), not with the number of hosts.

    .venv/bin/python bench/fleet_deploy.py [--sizes 1 3 10 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lab"), str(REPO / "tests")]

from harness.ansible import run_playbook  # noqa: E402
from medops_lab.testing import LabHandle  # noqa: E402


def deploy_time(clinics: int) -> tuple[float, int]:
    lab = LabHandle.create(prefix=f"medops-bench-{clinics}-")
    try:
        lab.up(clinics)
        started = time.monotonic()
        run = run_playbook(REPO / "playbooks" / "deploy.yml", inventory=lab.inventory, env=lab.env,
                           extra_vars={"deploy_version": "1.1.0"})
        elapsed = time.monotonic() - started
        if run.rc != 0:
            raise SystemExit(f"deploy to {clinics} clinics failed (rc={run.rc}):\n{run.output[-3000:]}")
        versions = {lab.version(c["code"]) for c in lab.clinics}
        if versions != {"1.1.0"}:
            raise SystemExit(f"after the deploy the clinics run {versions}")
        return elapsed, run.rc
    finally:
        lab.run("down", "--purge", check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 3, 10, 20])
    args = parser.parse_args()
    times = {n: deploy_time(n)[0] for n in args.sizes}
    base = times[min(times)]
    print(f"{'clinics':>8} {'wall s':>8} {'T(N)/T(1)':>10}")
    for n, seconds in times.items():
        print(f"{n:>8} {seconds:>8.1f} {seconds / base:>10.2f}")
    largest = max(times)
    verdict = "meets" if times[largest] <= 4 * base else "misses"
    print(f"T({largest})/T({min(times)}) = {times[largest] / base:.2f} ({verdict} the goal of at most 4)")


if __name__ == "__main__":
    main()
