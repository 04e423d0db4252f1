"""health_wait against the natural baseline, an ``ansible.builtin.uri`` until/retries loop, in one run.

1. Reaction: a local service turns healthy at a random instant after the first probe reaches it.
   For N trials of each (interleaved, same interval), measure the delay between "became healthy"
   and "task returned" (the moment the task's result reaches the controller, recorded by a small
   callback plugin this script writes to a temporary directory).
2. Cost: CPU seconds (ansible-playbook and all its children, from os.wait4) spent waiting for a
   service that never becomes healthy, normalised to 60 s of waiting.

Both run through ansible-playbook exactly as users run them.
Usage: .venv/bin/python bench/health_wait.py [--quick] [--trials N] [--interval S] [--wait S]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / ".collections"), str(REPO / "lab"), str(REPO / "tests")]

from harness.ansible import BIN, ansible_env  # noqa: E402
from harness.http import HttpService, Reply  # noqa: E402

CALLBACK = '''
import json, os, time
from ansible.plugins.callback import CallbackBase

class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "medops_bench_timer"
    CALLBACK_NEEDS_ENABLED = True

    def _stamp(self, result, ok):
        if result._task.get_name() == "wait":
            with open(os.environ["MEDOPS_BENCH_STAMP"], "w") as f:
                json.dump({"returned": time.time(), "ok": ok}, f)

    def v2_runner_on_ok(self, result):
        self._stamp(result, True)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._stamp(result, False)
'''

HEALTH_WAIT = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: wait
      medops.runbook.health_wait:
        url: "{{ url }}"
        interval: "{{ interval }}"
        wait_timeout: "{{ wait }}"
        timeout: 5
"""

URI_LOOP = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: wait
      ansible.builtin.uri:
        url: "{{ url }}"
        status_code: 200
        timeout: 5
      register: answer
      until: answer.status == 200
      retries: "{{ retries }}"
      delay: "{{ interval }}"
"""


class Service(object):
    """503 until ``healthy_at`` (wall clock), decided when the first probe of a trial arrives."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset(None)
        self.http = HttpService({"/health": self.handle}).start()

    def reset(self, after):
        with self.lock:
            self.after, self.healthy_at, self.requests, self.first_ok_served = after, None, 0, None

    def handle(self, request):
        now = time.time()
        with self.lock:
            self.requests += 1
            if self.healthy_at is None and self.after is not None:
                self.healthy_at = now + self.after
            healthy = self.healthy_at is not None and now >= self.healthy_at
            if healthy and self.first_ok_served is None:
                self.first_ok_served = now
        return Reply(200, {"status": "ok"}) if healthy else Reply(503, {"status": "starting"})


def run(playbook, extra, env):
    """(rc, wall seconds, CPU seconds of ansible-playbook and every child it waited for)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as varsfile:
        json.dump(extra, varsfile)
    start = time.monotonic()
    proc = subprocess.Popen([str(BIN / "ansible-playbook"), "-i", "localhost,", str(playbook), "-e", "@" + varsfile.name],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status, usage = os.wait4(proc.pid, 0)[1:]
    proc.returncode = os.waitstatus_to_exitcode(status)
    os.unlink(varsfile.name)
    return proc.returncode, time.monotonic() - start, usage.ru_utime + usage.ru_stime


def pct(values, fraction):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--quick", action="store_true", help="5 trials each and 15 s of waiting")
    parser.add_argument("--trials", type=int)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--wait", type=float, help="seconds of waiting for the CPU measurement (default 60)")
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args()
    trials = args.trials or (5 if args.quick else 20)
    wait = args.wait or (15.0 if args.quick else 60.0)
    interval = args.interval
    rng = random.Random(args.seed)

    tmp = Path(tempfile.mkdtemp(prefix="medops-bench-"))
    (tmp / "cb").mkdir()
    (tmp / "cb" / "medops_bench_timer.py").write_text(CALLBACK)
    books = {"health_wait": tmp / "health_wait.yml", "uri loop": tmp / "uri_loop.yml"}
    books["health_wait"].write_text(HEALTH_WAIT)
    books["uri loop"].write_text(URI_LOOP)
    env = ansible_env({"ANSIBLE_CALLBACK_PLUGINS": str(tmp / "cb"), "ANSIBLE_CALLBACKS_ENABLED": "medops_bench_timer"})
    service = Service()
    print("load average at the start: %.1f %.1f %.1f on %d CPUs" % (os.getloadavg() + (os.cpu_count(),)), flush=True)
    stamp = tmp / "stamp.json"
    env["MEDOPS_BENCH_STAMP"] = str(stamp)
    url = service.http.url("/health")

    delays = {name: [] for name in books}
    # Split of each delay: until the first healthy answer was served (the polling cadence) and
    # from then until the task's result reached the controller (module exit + Ansible).
    seen = {name: [] for name in books}
    for trial in range(trials):
        after = rng.uniform(0.5, 0.5 + 3 * interval)
        for name in (list(books) if trial % 2 == 0 else list(books)[::-1]):
            service.reset(after)
            stamp.unlink(missing_ok=True)
            extra = {"url": url, "interval": interval, "wait": 120, "retries": int(120 / interval)}
            rc = run(books[name], extra, env)[0]
            record = json.loads(stamp.read_text()) if stamp.exists() else {}
            if rc != 0 or not record.get("ok"):
                raise SystemExit("%s trial %d did not succeed (rc=%s)" % (name, trial, rc))
            delays[name].append(record["returned"] - service.healthy_at)
            seen[name].append(service.first_ok_served - service.healthy_at)
        print("trial %2d/%d  became healthy %.2fs after the first probe  health_wait %.3fs  uri loop %.3fs" % (
            trial + 1, trials, after, delays["health_wait"][-1], delays["uri loop"][-1]), flush=True)

    cpu = {}
    for name in books:
        # The fixed cost (start ansible-playbook, send one probe) is measured apart so that the
        # cost of waiting itself can be told from it.
        service.reset(None)
        wall0, cpu0 = run(books[name], {"url": url, "interval": interval, "wait": 0, "retries": 0}, env)[1:]
        service.reset(None)
        extra = {"url": url, "interval": interval, "wait": wait, "retries": max(1, int(wait / interval))}
        rc, wall, seconds = run(books[name], extra, env)
        marginal = (seconds - cpu0) * 60.0 / max(wall - wall0, 1e-6)
        cpu[name] = (seconds, wall, service.requests, seconds * 60.0 / wall, cpu0, marginal)
        print("never healthy: %-11s rc=%d wall %.1fs cpu %.2fs probes %d (one probe only: wall %.1fs cpu %.2fs)" % (
            name, rc, wall, seconds, service.requests, wall0, cpu0), flush=True)
    service.http.stop()

    goal = interval + 0.2
    print()
    print("interval %.1fs, %d trials each, same run; delay = task returned - service became healthy" % (interval, trials))
    print("| method | median delay (s) | p95 delay (s) | max delay (s) | p95 until first healthy probe (s) | p95 probe-to-return (s) "
          "| CPU s, never-healthy run | its wall (s) | probes | CPU s of a one-probe run | CPU s per 60 s of waiting (excl. one-probe cost) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in books:
        d = delays[name]
        ret = [a - b for a, b in zip(d, seen[name])]
        total, wall, probes, cpu0, marginal = (cpu[name][i] for i in (0, 1, 2, 4, 5))
        print("| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.2f | %.1f | %d | %.2f | %.2f |" % (
            name, statistics.median(d), pct(d, 0.95), max(d), pct(seen[name], 0.95), pct(ret, 0.95),
            total, wall, probes, cpu0, marginal))
    hw_p95 = pct(delays["health_wait"], 0.95)
    ratio = cpu["health_wait"][5] / cpu["uri loop"][5]
    per_wall = cpu["health_wait"][3] / cpu["uri loop"][3]
    per_probe = cpu["health_wait"][0] / cpu["uri loop"][0]
    print()
    print("load average at the end: %.1f %.1f %.1f on %d CPUs" % (os.getloadavg() + (os.cpu_count(),)))
    print("health_wait p95 delay %.3fs vs goal <= interval + 0.2 = %.1fs: %s" % (hw_p95, goal, "met" if hw_p95 <= goal else "NOT met"))
    print("health_wait CPU while waiting (per 60 s, excl. one-probe cost) = %.2f x the uri loop's (goal <= 0.20): %s" % (
        ratio, "met" if ratio <= 0.2 else "NOT met"))
    print("  same, including start-up, per 60 s of wall: %.2f x; same number of probes, total CPU: %.2f x" % (per_wall, per_probe))
    print("uri loop median delay / health_wait median delay = %.1f" % (
        statistics.median(delays["uri loop"]) / statistics.median(delays["health_wait"])))


if __name__ == "__main__":
    main()
