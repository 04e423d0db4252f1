"""Fleet deploy wall time and CPU against the lab with 1, 3, 10 and 20 clinics, over SSH and local.

Each size gets a fresh lab of its own (temporary state, free ports) on 1.0.0; the bench times
`ansible-playbook playbooks/deploy.yml -e deploy_version=1.1.0` with the default serial
([1, "25%", "100%"]) and prints, per size and connection:

- the wall time and T(N)/T(1);
- the controller's CPU: ansible-playbook and every process it waited for (its workers, ssh),
  without the modules;
- the clinics' CPU: every module run on a clinic host and what it ran (pg_dump...), measured by
  an interpreter wrapper that logs each module process's rusage (the same on both connections);
- the CPU floor of the largest fleet: N x CPU per clinic / CPUs, against T(1).

The lab's inventory connects over SSH as each clinic's account (the production shape);
`--connections ssh local` adds the earlier local-connection figures in the same run, side by side
(local runs the same playbook as root with `-e ansible_connection=local`). Where a connection
costs, it shows in the controller column: the module work is the same on both.

    .venv/bin/python bench/fleet_deploy.py [--sizes 1 3 10 20] [--connections ssh local]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lab"), str(REPO / "tests")]

from harness.ansible import run_playbook  # noqa: E402
from medops_lab.testing import LabHandle  # noqa: E402


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


WRAPPER = """#!{python}
# Runs the clinic host's Python for one module and adds the CPU it and its children used to a log.
import os, subprocess, sys
child = subprocess.Popen([{python!r}, *sys.argv[1:]])
_pid, status, usage = os.wait4(child.pid, 0)
with open({log!r}, "a", encoding="ascii") as handle:
    handle.write("%.4f\\n" % (usage.ru_utime + usage.ru_stime))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def module_meter(python: str) -> tuple[Path, Path]:
    """An interpreter for the clinic hosts that logs each module's CPU (the module and what it runs,
    such as pg_dump), in a directory every clinic account can use: (interpreter, log)."""
    where = Path(tempfile.mkdtemp(prefix="medops-bench-meter-", dir="/var/tmp"))
    where.chmod(0o755)
    log = where / "cpu.log"
    log.touch()
    log.chmod(0o666)  # appended to by every clinic's account
    interpreter = where / "python"
    interpreter.write_text(WRAPPER.format(python=python, log=str(log)), encoding="utf-8")
    interpreter.chmod(0o755)
    return interpreter, log


def logged_cpu(log: Path) -> float:
    return sum(float(line) for line in log.read_text(encoding="ascii").split())


def deploy(clinics: int, connection: str) -> dict:
    """Wall seconds of the deploy; CPU seconds of the controller (ansible-playbook and its workers,
    connections included, modules excluded) and of the clinics' modules."""
    lab = LabHandle.create(prefix=f"medops-bench-{clinics}-")
    interpreter = None
    try:
        lab.up(clinics)
        python = lab.info["host_python"] if connection == "ssh" else sys.executable
        interpreter, log = module_meter(python)
        extra = {"deploy_version": "1.1.0", "ansible_python_interpreter": str(interpreter)}
        if connection == "local":
            extra["ansible_connection"] = "local"
        cpu_before = children_cpu()
        started = time.monotonic()
        run = run_playbook(REPO / "playbooks" / "deploy.yml", inventory=lab.inventory, env=lab.env, extra_vars=extra)
        elapsed = time.monotonic() - started
        everything = children_cpu() - cpu_before
        modules = logged_cpu(log)
        if run.rc != 0:
            raise SystemExit(f"{connection} deploy to {clinics} clinics failed (rc={run.rc}):\n{run.output[-3000:]}")
        versions = {lab.version(c["code"]) for c in lab.clinics}
        if versions != {"1.1.0"}:
            raise SystemExit(f"after the {connection} deploy the clinics run {versions}")
        # Locally the modules are the controller's children too: their CPU is in `everything`.
        controller = everything - modules if connection == "local" else everything
        return {"wall": elapsed, "controller": controller, "clinics": modules}
    finally:
        lab.run("down", "--purge", check=False)
        if interpreter:
            shutil.rmtree(interpreter.parent, ignore_errors=True)


def report(connection: str, results: dict) -> None:
    base = results[min(results)]["wall"]
    cpus = os.cpu_count()
    print(f"\n{connection}:")
    print("| clinics | wall s | T(N)/T(1) | controller CPU s | clinics' CPU s | CPU s per clinic | CPU / (wall x CPUs) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, r in results.items():
        total = r["controller"] + r["clinics"]
        print(f"| {n} | {r['wall']:.1f} | {r['wall'] / base:.2f} | {r['controller']:.1f} | {r['clinics']:.1f} | "
              f"{total / n:.1f} | {total / (r['wall'] * cpus):.2f} |")
    largest = max(results)
    per_clinic = (results[largest]["controller"] + results[largest]["clinics"]) / largest
    floor = max(3 * base, largest * per_clinic / cpus)
    print(f"T({largest})/T({min(results)}) = {results[largest]['wall'] / base:.2f}; CPU floor for {largest} clinics on "
          f"{cpus} CPUs: max(3 x T(1), {largest} x {per_clinic:.1f} CPU s / {cpus}) = {floor:.0f} s = {floor / base:.2f} x T(1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 3, 10, 20])
    parser.add_argument("--connections", nargs="+", choices=["ssh", "local"], default=["ssh", "local"])
    args = parser.parse_args()
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs", flush=True)
    results = {c: {n: deploy(n, c) for n in args.sizes} for c in args.connections}
    for connection, per_size in results.items():
        report(connection, per_size)
    if {"ssh", "local"} <= set(results):
        print("\nssh / local, per clinic (same run):")
        for n in args.sizes:
            ssh, local = results["ssh"][n], results["local"][n]
            print(f"  {n} clinics: wall {ssh['wall'] / local['wall']:.2f}, controller CPU "
                  f"{ssh['controller'] / local['controller']:.2f}, all CPU "
                  f"{(ssh['controller'] + ssh['clinics']) / (local['controller'] + local['clinics']):.2f}")


if __name__ == "__main__":
    main()
