"""Fleet deploy cost: wall time, CPU and tasks per clinic on labs of 1, 3, 10 and 20 clinics.

Each measured run gets a fresh lab of its own (temporary state, free loopback ports) on 1.0.0 and
runs `ansible-playbook playbooks/deploy.yml -e deploy_version=1.1.0` with the default serial
([1, "25%", "100%"]). Both the deploy and the baseline link shared/logs into the release
(deploy_shared_paths), so that step does work in both. Per fleet size and connection it prints:

- the wall time T(N), T(N)/T(1), the CPU floor floor(N) = max(B x T(1), N x CPU per clinic / CPUs),
  B being the number of batches serial makes (3 from N = 3 on, so the issue's max(3 x T(1), ...)),
  and T(N)/floor(N) (the goal is at most 1.2 for N = 3, 10 and 20);
- the controller's CPU: ansible-playbook and every process it started (workers, ssh, and over
  SSH what it leaves running, ssh's ControlPersist masters: bench/reaped.py ends and reaps them);
  modules run on the controller itself count here;
- the clinics' CPU: every module run on a clinic host and what it ran (pg_dump...), logged by an
  interpreter wrapper that records each module process's rusage (the same on both connections;
  sshd, PostgreSQL's server side and the services are in neither column);
- tasks per clinic, from the PLAY RECAP: ok + failed + rescued + unreachable (ok already counts
  changed tasks, ignored failures and dynamic includes), mean and least-most over the clinics,
  and skipped tasks per clinic apart;
- the five costliest tasks, from `ansible.posix.profile_tasks` (enabled with
  ANSIBLE_CALLBACKS_ENABLED for these runs only): wall seconds per task, its batches added up, and
  the tasks whose names differ only by a URL (a dynamic include's per-batch copies) added up too.
  Wall, not CPU: cgroup_perf_recap (cgroup v1 only) samples the controller's cgroup and reports each
  task's peak CPU percentage, not its CPU seconds, and never sees the clinic side;
- the baseline (bench/baseline/bare_switch.yml, a bare release switch like Ansistrano's
  copy_unarchive without hooks) on a lab of the same size, same inventory and connection, and the
  ratios ours/baseline: controller CPU, controller + clinics CPU, tasks per clinic.

Options:
- `--connections ssh local`: the lab's inventory connects over SSH as each clinic's account (the
  production shape); local runs the same playbook as root with `-e ansible_connection=local`.
- `--cores 2.16 2.17 2.18 2.19`: the one-clinic deploy (over SSH) on each ansible-core series, side
  by side, each in a virtualenv of its own made by `scripts/ansible-range.sh --venv-only` and kept in
  $MEDOPS_BENCH_CACHE (default ~/.cache/medops-bench). No profile_tasks there (ansible.posix is not
  installed in them).
- `--mitogen`: the deploy over SSH with Mitogen's `mitogen_linear` strategy (mitogen from PyPI,
  installed apart into the cache dir, never into the project), against the plain run of the same
  size: `--mitogen-sizes 1 3`. A Mitogen run that fails is reported with its error. Mitogen keeps
  one interpreter per clinic account for the whole run (the meter's child, logged when it exits);
  its meter is a subreaper that also counts, for a few seconds, what that interpreter leaves
  behind (the fork parent in which the collection's modules run).

    .venv/bin/python bench/fleet_deploy.py [--sizes 1 3 10 20] [--connections ssh local] [--no-baseline]
        [--cores 2.16 2.17 2.18 2.19] [--mitogen [--mitogen-sizes 1 3]]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "lab"), str(REPO / "tests")]

from fleet_stats import batch_floor, costliest, cpu_floor, per_clinic, ratio, recap, table  # noqa: E402
from harness.ansible import ansible_env  # noqa: E402
from medops_lab.testing import LabHandle  # noqa: E402

PROJECT_BIN = Path(sys.executable).parent
DEPLOY = REPO / "playbooks" / "deploy.yml"
BARE_SWITCH = REPO / "bench" / "baseline" / "bare_switch.yml"
REAPED = REPO / "bench" / "reaped.py"
VERSION = "1.1.0"
SHARED_PATHS = [{"src": "logs", "dest": "logs"}]
PROFILE = {"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks", "PROFILE_TASKS_SUMMARY_ONLY": "true",
           "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all"}
MITOGEN = "0.3.54"
CPUS = os.cpu_count() or 1


def cache_dir() -> Path:
    explicit = os.environ.get("MEDOPS_BENCH_CACHE")
    return Path(explicit) if explicit else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "medops-bench"


@dataclass
class Variant:
    """One way of running a deploy: which playbook, with which ansible-playbook, and extra settings."""
    label: str
    playbook: Path = DEPLOY
    bin_dir: Path = PROJECT_BIN
    env: dict = field(default_factory=lambda: dict(PROFILE))
    linger: float = 0.0  # how long the module meter waits for what a module process leaves behind


class RunFailed(RuntimeError):
    pass


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


WRAPPER = """#!{python}
# Runs the clinic host's Python for one module and logs the CPU it and its children used, with the uid.
# With a linger (Mitogen), it is a subreaper and also reaps what was left behind, for up to that long.
import os, subprocess, sys, time
linger = {linger}
if linger:
    import ctypes
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
child = subprocess.Popen([{python!r}, *sys.argv[1:]])
_pid, status, usage = os.wait4(child.pid, 0)
cpu = usage.ru_utime + usage.ru_stime
deadline = time.monotonic() + linger
while time.monotonic() < deadline:
    try:
        pid, _status, usage = os.wait4(-1, os.WNOHANG)
    except ChildProcessError:
        break
    if pid:
        cpu += usage.ru_utime + usage.ru_stime
    else:
        time.sleep(0.05)
with open({log!r}, "a", encoding="ascii") as handle:
    handle.write("%.4f %d\\n" % (cpu, os.getuid()))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def module_meter(python: str, linger: float = 0.0) -> tuple[Path, Path]:
    """An interpreter for the clinic hosts that logs each module's CPU (the module and what it runs,
    such as pg_dump), in a directory every clinic account can use: (interpreter, log). With a
    linger it also counts the processes a module process leaves behind (Mitogen's fork parent)."""
    where = Path(tempfile.mkdtemp(prefix="medops-bench-meter-", dir="/var/tmp"))
    where.chmod(0o755)
    log = where / "cpu.log"
    log.touch()
    log.chmod(0o666)  # appended to by every clinic's account
    interpreter = where / "python"
    interpreter.write_text(WRAPPER.format(python=python, log=str(log), linger=linger), encoding="utf-8")
    interpreter.chmod(0o755)
    return interpreter, log


def logged_cpu(log: Path, skip_uid: int | None = None) -> float:
    """CPU seconds of the modules logged, less those run by ``skip_uid``."""
    entries = (line.split() for line in log.read_text(encoding="ascii").splitlines() if line.strip())
    return sum(float(cpu) for cpu, uid in entries if int(uid) != skip_uid)


def settle(interpreter: Path, timeout: float = 15.0) -> None:
    """Wait until no process runs the meter any more (Mitogen's interpreters exit after the run)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(str(interpreter) in cmdline for cmdline in cmdlines()):
        time.sleep(0.1)


def cmdlines() -> list[str]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                found.append(Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return found


def playbook_command(variant: Variant, lab: LabHandle, extra: dict, connection: str) -> list[str]:
    cmd = [str(variant.bin_dir / "ansible-playbook"), str(variant.playbook), "-i", str(lab.inventory), "-e", json.dumps(extra)]
    # Over SSH, end and reap what ansible-playbook leaves running (ControlPersist masters) so their
    # CPU is measured. Not locally: the services a local restart starts would be ended with them.
    return [sys.executable, str(REAPED), *cmd] if connection == "ssh" else cmd


def run_env(variant: Variant, lab: LabHandle) -> dict:
    return ansible_env({**lab.env, "ANSIBLE_PYTHON_INTERPRETER": str(variant.bin_dir / "python"),
                        "PATH": f"{variant.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", **variant.env})


def run_on(lab: LabHandle, variant: Variant, connection: str, interpreter: Path) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run the variant's playbook on the lab: (the run, wall seconds, CPU seconds of its process tree)."""
    extra = {"deploy_version": VERSION, "ansible_python_interpreter": str(interpreter), "deploy_shared_paths": SHARED_PATHS}
    if connection == "local":
        extra["ansible_connection"] = "local"
    cpu_before = children_cpu()
    started = time.monotonic()
    run = subprocess.run(playbook_command(variant, lab, extra, connection), cwd=REPO, env=run_env(variant, lab),
                         capture_output=True, text=True, timeout=1800, check=False)
    return run, time.monotonic() - started, children_cpu() - cpu_before


def check_run(run: subprocess.CompletedProcess, lab: LabHandle, what: str) -> None:
    output = run.stdout + run.stderr
    if run.returncode != 0:
        raise RunFailed(f"{what} failed (rc={run.returncode}):\n{output[-3000:]}")
    versions = {lab.version(c["code"]) for c in lab.clinics}
    if versions != {VERSION}:
        raise RunFailed(f"after {what} the clinics run {versions}:\n{output[-3000:]}")


def measure(clinics: int, connection: str, variant: Variant) -> dict:
    """One run on a fresh lab: wall seconds; CPU seconds of the controller (ansible-playbook's process
    tree; modules run on the controller included) and of the clinics' modules; tasks; costliest tasks."""
    lab = LabHandle.create(prefix=f"medops-bench-{clinics}-")
    interpreter = None
    try:
        lab.up(clinics)
        interpreter, log = module_meter(lab.info["host_python"] if connection == "ssh" else sys.executable, variant.linger)
        run, wall, everything = run_on(lab, variant, connection, interpreter)
        settle(interpreter)
        check_run(run, lab, f"{variant.label} ({connection}, {clinics} clinics)")
        print(f"  {variant.label}, {connection}, {clinics} clinics: {wall:.1f} s", flush=True)
        output = run.stdout + run.stderr
        if connection == "local":  # the modules are the controller's children: their CPU is in `everything`
            clinics_cpu = logged_cpu(log)
            controller = everything - clinics_cpu
        else:  # modules the controller ran itself (uid of this process) are in `everything` already
            clinics_cpu, controller = logged_cpu(log, skip_uid=os.getuid()), everything
        return {"wall": wall, "controller": controller, "clinics": clinics_cpu, "n": clinics,
                "tasks": per_clinic(recap(output)), "top": costliest(output)}
    finally:
        lab.run("down", "--purge", check=False)
        if interpreter:
            shutil.rmtree(interpreter.parent, ignore_errors=True)


def total(result: dict) -> float:
    return result["controller"] + result["clinics"]


def tasks_cell(result: dict) -> str:
    tasks = result["tasks"]
    spread = f" ({tasks['least']}-{tasks['most']})" if tasks["least"] != tasks["most"] else ""
    return f"{tasks['tasks']:.0f}{spread}"


# -- virtualenvs and Mitogen, kept in the cache dir ----------------------------------------------
def core_bin(series: str) -> Path:
    """The bin dir of a virtualenv with ansible-core==<series>.* and the collection's controller
    requirements, made once by scripts/ansible-range.sh --venv-only."""
    venv = cache_dir() / f"ansible-core-{series}"
    ready = venv / ".medops-bench-ready"
    if not ready.exists():
        print(f"making the ansible-core {series} virtualenv in {venv} ...", flush=True)
        env = {**os.environ, "KEEP_VENV": str(venv), "ANSIBLE_CORE": f"{series}.*"}
        made = subprocess.run(["bash", str(REPO / "scripts" / "ansible-range.sh"), "--venv-only"], env=env,
                              capture_output=True, text=True, check=False)
        if made.returncode != 0:
            raise SystemExit(f"the ansible-core {series} virtualenv failed:\n{made.stdout[-2000:]}{made.stderr[-2000:]}")
        ready.touch()
    return venv / "bin"


def core_version(bin_dir: Path) -> str:
    return subprocess.run([str(bin_dir / "python"), "-c", "import ansible.release; print(ansible.release.__version__)"],
                          capture_output=True, text=True, check=True).stdout.strip()


def mitogen_env(version: str) -> dict:
    """Settings that run a playbook with Mitogen's linear strategy: mitogen pip-installed apart
    (--target) into the cache dir, so the project's virtualenv stays without it."""
    target = cache_dir() / f"mitogen-{version}"
    if not (target / "ansible_mitogen").is_dir():
        scratch = Path(f"{target}.partial")
        shutil.rmtree(scratch, ignore_errors=True)
        subprocess.run([str(PROJECT_BIN / "python"), "-m", "pip", "install", "-q", "--target", str(scratch),
                        f"mitogen=={version}"], check=True)
        scratch.rename(target)
    return {**PROFILE, "PYTHONPATH": str(target), "ANSIBLE_STRATEGY": "mitogen_linear",
            "ANSIBLE_STRATEGY_PLUGINS": str(target / "ansible_mitogen" / "plugins" / "strategy")}


# -- reports -------------------------------------------------------------------------------------
def report_sizes(connection: str, results: dict) -> None:
    ours = {n: r["ours"] for n, r in results.items()}
    one = ours[1]["wall"] if 1 in ours else None
    base = one or ours[min(ours)]["wall"]
    rows = []
    for n, r in ours.items():
        floor = cpu_floor(n, one, total(r), CPUS)
        batched = batch_floor(n, one, total(r) / n, CPUS)
        rows.append([n, f"{r['wall']:.1f}", f"{r['wall'] / base:.2f}", f"{r['controller']:.1f}", f"{r['clinics']:.1f}",
                     f"{total(r) / n:.1f}", f"{r['controller'] / n:.1f}", tasks_cell(r), f"{r['tasks']['skipped']:.0f}",
                     f"{floor:.0f}", f"{r['wall'] / floor:.2f}", f"{batched:.0f}", f"{r['wall'] / batched:.2f}"])
    print(f"\n### {connection}: playbooks/deploy.yml\n")
    print(table(["clinics", "wall s", "T(N)/T(1)", "controller CPU s", "clinics' CPU s", "CPU s per clinic",
                 "controller CPU s per clinic", "tasks per clinic", "skipped per clinic", "floor(N) s", "T(N)/floor(N)",
                 "batch floor s", "T(N)/batch floor"], rows))
    print(f"\nfloor(N) = max(B x T(1), N x CPU per clinic / {CPUS} CPUs), B = serial's batches (3 from N = 3 on)"
          + ("" if one else "; no 1-clinic run: the T(1) term is left out")
          + ".\nbatch floor = the sum over serial's batches of max(T(1), clinics in the batch x CPU per clinic / "
          f"{CPUS} CPUs): batches cannot overlap, so a batch with more CPU work than T(1) covers takes longer."
          + "\nGoals: T(N)/floor(N) <= 1.2 for N = 3, 10, 20; "
          "per clinic, controller CPU <= 5 s, controller + clinics <= 10 s, tasks <= 40.")
    report_costliest(connection, ours)
    if all("baseline" in r for r in results.values()):
        report_baseline(connection, results)


def report_costliest(connection: str, ours: dict) -> None:
    rows = [[n, rank, name, f"{seconds:.1f}", f"{seconds / r['wall']:.0%}"]
            for n, r in ours.items() for rank, (name, seconds) in enumerate(r["top"], 1)]
    if rows:
        print(f"\n{connection}: the five costliest tasks (profile_tasks: wall s per task, batches added up)\n")
        print(table(["clinics", "#", "task", "wall s", "of T(N)"], rows, left=3))


def report_baseline(connection: str, results: dict) -> None:
    rows = []
    for n, r in results.items():
        ours, bare = r["ours"], r["baseline"]
        rows.append([n, f"{ours['controller'] / n:.1f}", f"{bare['controller'] / n:.1f}", ratio(ours["controller"], bare["controller"]),
                     f"{total(ours) / n:.1f}", f"{total(bare) / n:.1f}", ratio(total(ours), total(bare)),
                     tasks_cell(ours), tasks_cell(bare), ratio(ours["tasks"]["tasks"], bare["tasks"]["tasks"]),
                     f"{bare['wall']:.1f}", ratio(ours["wall"], bare["wall"])])
    print(f"\n{connection}: ours against the baseline (bench/baseline/bare_switch.yml), per clinic\n")
    print(table(["clinics", "controller CPU s ours", "baseline", "ours/baseline", "controller + clinics CPU s ours", "baseline",
                 "ours/baseline", "tasks ours", "baseline", "ours/baseline", "baseline wall s", "wall ours/baseline"], rows))


def report_cores(results: dict) -> None:
    rows = [[series, r["version"], f"{r['wall']:.1f}", f"{r['controller']:.1f}", f"{r['clinics']:.1f}", f"{total(r):.1f}",
             tasks_cell(r)] for series, r in results.items()]
    print("\n### ansible-core: one-clinic deploy over SSH, each series in its own virtualenv (no profile_tasks)\n")
    print(table(["series", "ansible-core", "wall s", "controller CPU s", "clinic CPU s", "CPU s per clinic", "tasks"], rows, left=2))


def report_mitogen(results: dict, version: str) -> None:
    print("\n### Mitogen (mitogen_linear strategy) against the plain linear strategy, over SSH\n")
    rows, failures = [], []
    for n, pair in results.items():
        plain, mito = pair["plain"], pair["mitogen"]
        if isinstance(mito, str):
            failures.append(f"{n} clinics: {mito}")
            continue
        for label, r in (("linear", plain), (f"mitogen {version}", mito)):
            rows.append([n, label, f"{r['wall']:.1f}", f"{r['controller']:.1f}", f"{r['clinics']:.1f}", f"{total(r) / n:.1f}", tasks_cell(r)])
        rows.append([n, "mitogen/linear", ratio(mito["wall"], plain["wall"]), ratio(mito["controller"], plain["controller"]),
                     ratio(mito["clinics"], plain["clinics"]), ratio(total(mito), total(plain)), ""])
    if rows:
        print(table(["clinics", "strategy", "wall s", "controller CPU s", "clinics' CPU s", "CPU s per clinic", "tasks per clinic"], rows, left=2))
    for failure in failures:
        print(f"\nMitogen failed on {failure}")


def report_connections(results: dict, sizes: list[int]) -> None:
    print("\n### ssh / local, same run\n")
    rows = []
    for n in sizes:
        ssh, local = results["ssh"][n]["ours"], results["local"][n]["ours"]
        rows.append([n, ratio(ssh["wall"], local["wall"]), ratio(ssh["controller"], local["controller"]), ratio(total(ssh), total(local))])
    print(table(["clinics", "wall", "controller CPU", "all CPU"], rows))


# -- main ----------------------------------------------------------------------------------------
def run_sizes(args: argparse.Namespace) -> dict:
    variants = {"ours": Variant("the deploy")}
    if args.baseline:
        variants["baseline"] = Variant("the baseline", playbook=BARE_SWITCH)
    return {c: {n: {k: measure(n, c, v) for k, v in variants.items()} for n in args.sizes} for c in args.connections}


def run_cores(series: list[str]) -> dict:
    """The one-clinic deploy on each series, every virtualenv made first so the runs follow each other."""
    bins = {one: core_bin(one) for one in series}
    return {one: {**measure(1, "ssh", Variant(f"ansible-core {one}", bin_dir=bin_dir, env={})), "version": core_version(bin_dir)}
            for one, bin_dir in bins.items()}


def run_mitogen(sizes: list[int], earlier: dict, version: str) -> dict:
    mitogen = Variant(f"mitogen {version}", env=mitogen_env(version), linger=5.0)
    results = {}
    for n in sizes:
        plain = earlier.get(n, {}).get("ours") or measure(n, "ssh", Variant("the deploy"))
        try:
            results[n] = {"plain": plain, "mitogen": measure(n, "ssh", mitogen)}
        except RunFailed as exc:
            results[n] = {"plain": plain, "mitogen": str(exc)}
    return results


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1, 3, 10, 20])
    parser.add_argument("--connections", nargs="+", choices=["ssh", "local"], default=["ssh", "local"])
    parser.add_argument("--no-baseline", dest="baseline", action="store_false", help="skip the bare switch baseline")
    parser.add_argument("--cores", nargs="+", default=[], metavar="SERIES", help="e.g. 2.16 2.17 2.18 2.19")
    parser.add_argument("--mitogen", action="store_true", help="also run the deploy with Mitogen's strategy")
    parser.add_argument("--mitogen-sizes", type=int, nargs="+", default=[1])
    parser.add_argument("--mitogen-version", default=MITOGEN)
    return parser.parse_args()


def main() -> None:
    args = arguments()
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {CPUS} CPUs", flush=True)
    results = run_sizes(args) if args.sizes else {}
    cores = run_cores(args.cores)
    mitogen = run_mitogen(args.mitogen_sizes, results.get("ssh", {}), args.mitogen_version) if args.mitogen else {}
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for connection, per_size in results.items():
        report_sizes(connection, per_size)
    if {"ssh", "local"} <= set(results):
        report_connections(results, args.sizes)
    if cores:
        report_cores(cores)
    if mitogen:
        report_mitogen(mitogen, args.mitogen_version)


if __name__ == "__main__":
    try:
        main()
    except RunFailed as exc:
        raise SystemExit(str(exc)) from None
