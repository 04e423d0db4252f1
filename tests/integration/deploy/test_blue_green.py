"""The deploy role's blue_green strategy on a blue/green lab: one clinic with two slots (two real
clinic services) behind a real nginx, real PostgreSQL, Redis and BullMQ worker.

The tests share one lab and run in file order; each states the state it starts from. Traffic goes
through nginx from a load generator in this process (threads, one new connection per request).
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from harness.ansible import REPO, run_playbook
from medops_lab.servers import pid_alive
from medops_lab.testing import LabHandle

pytestmark = pytest.mark.lab
CODE = "kin"
DEPLOY = REPO / "playbooks" / "deploy.yml"
ROLLBACK = REPO / "playbooks" / "rollback.yml"
MIN_REQUESTS = 5000


@pytest.fixture(scope="module")
def bg_lab():
    handle = LabHandle.create("medops-bglab-")
    try:
        handle.json("up", "--clinics", "1", "--blue-green")
        yield handle
    finally:
        handle.run("down", "--purge", check=False)


def deploy(lab, version, *args, **kwargs):
    return run_playbook(DEPLOY, *args, inventory=lab.inventory, env=lab.env, extra_vars={"deploy_version": version}, **kwargs)


def rollback(lab, *args, **kwargs):
    return run_playbook(ROLLBACK, *args, inventory=lab.inventory, env=lab.env, **kwargs)


def state(lab):
    """What the clinic looks like: live slot, each slot's pid and link, current, the served version."""
    clinic = lab.clinic(CODE)
    row = lab.json("status", "--json")["clinics"][0]
    root = Path(clinic["app_root"])
    links = {slot: os.readlink(root / "slots" / slot) if (root / "slots" / slot).is_symlink() else None
             for slot in clinic["slots"]}
    return {
        "live": row["live_slot"],
        "pids": {slot: info["pid"] for slot, info in row["slots"].items()},
        "links": links,
        "current": os.readlink(root / "current"),
        "served": lab.get(CODE, "/api/version")[1].get("version"),
        "upstream": Path(clinic["front"]["upstream_file"]).read_text(),
    }


def record(lab):
    path = Path(lab.clinic(CODE)["app_root"]) / "deployments.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class Load:
    """Steady GET requests through the front: ``threads`` threads sharing ``rate`` requests per
    second (a fixed schedule, so the load does not starve the deploy of CPU), each request on a
    new connection.

    Every answer is counted under the phase the test has set (``load.phase``) when it was sent;
    a failure is any non-2xx status or any connection error. The version that answered comes from
    the service's X-Clinic-Version header, in the order answers arrive.
    """

    PATHS = ("/health/live", "/dashboard")  # neither counts against the service's API rate limit

    def __init__(self, base_url: str, threads: int = 4, rate: float = 200):
        url = urlsplit(base_url)
        self.interval = threads / rate
        self.host, self.port = url.hostname, url.port
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(threads)]
        self.phase = "before"
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.sent = Counter()
        self.failed = Counter()
        self.failures: list[tuple[str, str, str]] = []
        self.versions: dict[str, list[str]] = {}

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(60)

    def _get(self, path: str) -> tuple[int, str | None]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            resp.read()
            return resp.status, resp.getheader("X-Clinic-Version")
        finally:
            conn.close()

    def _run(self, number: int) -> None:
        count = number
        due = time.monotonic() + self.interval * number / len(self.threads)
        while not self.stopping.wait(max(0.0, due - time.monotonic())):
            # A thread that falls behind (a slow answer) carries on from now instead of bursting.
            due = max(due + self.interval, time.monotonic())
            path = self.PATHS[count % len(self.PATHS)]
            count += 1
            phase = self.phase
            try:
                status, version = self._get(path)
                error = None if 200 <= status < 300 else f"HTTP {status}"
            except (OSError, http.client.HTTPException) as exc:
                version, error = None, f"{type(exc).__name__}: {exc}"
            with self.lock:
                self.sent[phase] += 1
                if error:
                    self.failed[phase] += 1
                    self.failures.append((phase, path, error))
                elif version:
                    self.versions.setdefault(phase, []).append(version)

    @property
    def total(self) -> int:
        with self.lock:
            return sum(self.sent.values())

    def wait_for(self, count: int, timeout: float = 600) -> None:
        """Block until ``count`` requests in all have been answered (or failed)."""
        deadline = time.monotonic() + timeout
        while self.total < count:
            assert time.monotonic() < deadline, f"the load generator sent only {self.total} requests"
            assert any(thread.is_alive() for thread in self.threads), "the load generator threads died"
            time.sleep(0.05)

    def seen(self, phase: str) -> list[str]:
        """The versions that answered in ``phase``, each run of equal answers collapsed."""
        runs = []
        for version in self.versions.get(phase, []):
            if not runs or runs[-1] != version:
                runs.append(version)
        return runs

    def summary(self) -> str:
        phases = [p for p in ("before", "deploy", "between", "rollback", "after") if p in self.sent]
        return "; ".join(f"{p}: {self.sent[p]} sent, {self.failed[p]} failed, versions {sorted(set(self.versions.get(p, [])))}"
                         for p in phases) + f"; total {sum(self.sent.values())} sent, {sum(self.failed.values())} failed"


def test_the_lab_runs_one_clinic_on_two_slots_behind_nginx(bg_lab):
    clinic = bg_lab.clinic(CODE)
    now = state(bg_lab)
    assert now["live"] == "blue" and now["served"] == "1.0.0" and now["current"] == "releases/1.0.0"
    assert now["links"] == {"blue": "../releases/1.0.0", "green": None}
    assert now["pids"]["blue"] and now["pids"]["green"] is None
    assert f"server 127.0.0.1:{clinic['slots']['blue']};" in now["upstream"]
    assert bg_lab.get(CODE, "/health/ready")[0] == 200
    # The slot answers on its own port too, past nginx.
    conn = http.client.HTTPConnection("127.0.0.1", clinic["slots"]["blue"], timeout=10)
    conn.request("GET", "/api/version")
    assert json.loads(conn.getresponse().read())["version"] == "1.0.0"
    conn.close()

    hostvars = bg_lab.inventory_list()["_meta"]["hostvars"][CODE]
    assert hostvars["deploy_strategy"] == "blue_green"
    assert hostvars["clinic_slot_ports"] == clinic["slots"]
    assert hostvars["clinic_base_url"] == f"http://127.0.0.1:{clinic['port']}"
    assert hostvars["clinic_slot_restart_command"][-3:] == ["slot-restart", CODE, "{{ deploy_slot }}"]

    refused = bg_lab.run("restart", CODE, check=False)
    assert refused.returncode == 1 and "slot-restart" in refused.stderr and "Traceback" not in refused.stderr
    pids = sorted(bg_lab.pids())
    bg_lab.json("up", "--clinics", "1", "--blue-green")
    assert sorted(bg_lab.pids()) == pids, "a second up restarts nothing"


def test_deploy_and_rollback_under_load_lose_no_request(bg_lab):
    """The acceptance test: steady load through nginx during a blue/green deploy and a rollback."""
    start = state(bg_lab)
    assert (start["live"], start["served"]) == ("blue", "1.0.0")
    with Load(bg_lab.url(CODE)) as load:
        load.wait_for(300)
        load.phase = "deploy"
        deployed = deploy(bg_lab, "1.1.0")
        load.phase = "between"
        after_deploy = state(bg_lab)
        load.wait_for(load.total + 100)
        load.phase = "rollback"
        rolled_back = rollback(bg_lab)
        load.phase = "after"
        load.wait_for(max(MIN_REQUESTS, load.total + 300))
    after_rollback = state(bg_lab)
    print(f"\nblue/green load: {load.summary()}")

    assert deployed.rc == 0, deployed.output[-4000:]
    assert rolled_back.rc == 0, rolled_back.output[-4000:]
    assert load.total >= MIN_REQUESTS
    assert sum(load.failed.values()) == 0, f"{load.summary()}; first failures: {load.failures[:10]}"
    # The requests span both switches: each run saw the old version answer, then the new one.
    assert load.seen("before") == ["1.0.0"]
    assert load.seen("deploy")[0] == "1.0.0" and load.seen("deploy")[-1] == "1.1.0", load.seen("deploy")
    assert load.seen("between") == ["1.1.0"]
    assert load.seen("rollback")[0] == "1.1.0" and load.seen("rollback")[-1] == "1.0.0", load.seen("rollback")
    assert load.seen("after") == ["1.0.0"]

    # Deploy: the new release went to the idle slot; the old slot kept running, untouched.
    clinic = bg_lab.clinic(CODE)
    assert after_deploy["live"] == "green" and after_deploy["served"] == "1.1.0"
    assert after_deploy["current"] == "releases/1.1.0"
    assert after_deploy["links"] == {"blue": "../releases/1.0.0", "green": "../releases/1.1.0"}
    assert f"server 127.0.0.1:{clinic['slots']['green']};" in after_deploy["upstream"]
    assert after_deploy["pids"]["blue"] == start["pids"]["blue"] and pid_alive(start["pids"]["blue"])
    assert after_deploy["pids"]["green"]
    assert "slot green (port" in deployed.flat and "started) serves 1.1.0; slot blue keeps running, warm" in deployed.flat
    deploy_entry = record(bg_lab)[-3]
    assert (deploy_entry["strategy"], deploy_entry["outcome"], deploy_entry["version_to"]) == ("blue_green", "success", "1.1.0")

    # Rollback: back to the warm slot, which was not restarted; the slot it left keeps running.
    assert after_rollback["live"] == "blue" and after_rollback["served"] == "1.0.0"
    assert after_rollback["current"] == "releases/1.0.0"
    assert after_rollback["pids"] == after_deploy["pids"]
    assert "slot blue (port" in rolled_back.flat and "already running, warm) serves 1.0.0" in rolled_back.flat
    last = record(bg_lab)[-1]
    assert (last["kind"], last["outcome"], last["version_to"]) == ("rollback", "success", "1.0.0")


def test_deploying_to_the_warm_slot_switches_without_a_restart(bg_lab):
    start = state(bg_lab)
    assert (start["live"], start["served"], start["links"]["green"]) == ("blue", "1.0.0", "../releases/1.1.0")
    run = deploy(bg_lab, "1.1.0")
    assert run.rc == 0, run.output[-4000:]
    now = state(bg_lab)
    assert (now["live"], now["served"], now["current"]) == ("green", "1.1.0", "releases/1.1.0")
    assert now["pids"] == start["pids"], "neither slot was restarted"
    assert "already running, warm) serves 1.1.0" in run.flat


def test_deploying_or_activating_the_live_version_changes_nothing(bg_lab, tmp_path):
    start = state(bg_lab)
    assert (start["live"], start["served"]) == ("green", "1.1.0")
    entries = len(record(bg_lab))
    run = deploy(bg_lab, "1.1.0")
    assert run.rc == 0, run.output[-3000:]
    assert "already live; nothing to do" in run.flat and "changed=0" in run.flat, run.output[-3000:]
    assert len(record(bg_lab)) == entries

    # The activate step alone: the release role's entry point, as the rollback role and the
    # automatic rollback use it.
    playbook = tmp_path / "activate.yml"
    playbook.write_text("""\
- name: Activate the live version again
  hosts: clinics
  gather_facts: false
  tasks:
    - name: Activate through the release role
      ansible.builtin.include_role:
        name: medops.runbook.release
        tasks_from: activate
      vars:
        release_version: "1.1.0"
""")
    run = run_playbook(playbook, inventory=bg_lab.inventory, env=bg_lab.env)
    assert run.rc == 0, run.output[-3000:]
    assert "changed=0" in run.flat, run.output[-3000:]
    assert "slot green (port" in run.flat and "already live) serves 1.1.0" in run.flat
    assert state(bg_lab) == start


def test_check_mode_changes_nothing(bg_lab):
    start = state(bg_lab)
    releases = sorted(os.listdir(Path(bg_lab.clinic(CODE)["app_root"]) / "releases"))
    entries = record(bg_lab)
    run = deploy(bg_lab, "1.2.0-bad", check=True)
    assert run.rc == 0, run.output[-4000:]
    assert "Traceback" not in run.output
    assert state(bg_lab) == start
    assert sorted(os.listdir(Path(bg_lab.clinic(CODE)["app_root"]) / "releases")) == releases
    assert record(bg_lab) == entries


def test_a_bad_release_never_gets_traffic(bg_lab):
    start = state(bg_lab)
    assert (start["live"], start["served"]) == ("green", "1.1.0")
    with Load(bg_lab.url(CODE), threads=2, rate=100) as load:
        load.wait_for(100)
        load.phase = "deploy"
        run = deploy(bg_lab, "1.2.0-bad")
        load.phase = "after"
        load.wait_for(load.total + 100)
    print(f"\nbad release under load: {load.summary()}")
    assert run.rc != 0
    assert sum(load.failed.values()) == 0, f"{load.summary()}; first failures: {load.failures[:10]}"
    assert set(load.versions["deploy"]) == {"1.1.0"}, "no request ever reached the bad release"

    now = state(bg_lab)
    assert (now["live"], now["served"], now["current"], now["upstream"]) == ("green", "1.1.0", "releases/1.1.0", start["upstream"])
    assert now["pids"]["green"] == start["pids"]["green"], "the live slot was not touched"
    assert now["pids"]["blue"] is None, "the slot that failed its checks was stopped"
    assert now["links"]["blue"] == "../releases/1.2.0-bad"
    assert "slot blue (port" in run.flat and "with 1.2.0-bad failed its checks before getting any traffic" in run.flat
    assert "it was stopped. The front still sends traffic to slot green" in run.flat
    assert (Path(bg_lab.clinic(CODE)["app_root"]) / "releases" / "1.2.0-bad" / ".medops-bad").exists()
    last = record(bg_lab)[-1]
    assert (last["outcome"], last["failed_step"], last["version_to"]) == ("rolled_back", "switch", "1.2.0-bad")


def test_rollback_to_a_release_no_slot_runs_starts_it_first(bg_lab):
    start = state(bg_lab)
    assert (start["live"], start["served"], start["pids"]["blue"]) == ("green", "1.1.0", None)
    run = rollback(bg_lab)
    assert run.rc == 0, run.output[-4000:]
    now = state(bg_lab)
    assert (now["live"], now["served"], now["current"]) == ("blue", "1.0.0", "releases/1.0.0")
    assert now["links"]["blue"] == "../releases/1.0.0" and now["pids"]["blue"]
    assert now["pids"]["green"] == start["pids"]["green"], "the slot it left keeps running"
    assert "slot blue (port" in run.flat and "started) serves 1.0.0" in run.flat


@pytest.mark.parametrize("settings, expected", [
    ({"deploy_slots": {"blue": 8081}}, "deploy_slots (clinic_slot_ports) must name exactly two slots"),
    ({"deploy_slots": {"blue": 8081, "green": 8081}}, "deploy_slots (clinic_slot_ports) must name exactly two slots"),
    ({"deploy_slots": {"blue": 8081, "green": "eighty"}}, "each with its own local port"),
    ({"deploy_slots": {"blue": 8081, "../x": 8082}}, "must name exactly two slots"),
    ({"deploy_front_upstream_file": ""}, "and deploy_front_upstream_file (clinic_front_upstream_file)"),
    ({"deploy_slot_restart_command": []}, "one of deploy_slot_restart_command or deploy_slot_service_unit"),
])
def test_bad_slot_settings_are_refused_before_anything_changes(bg_lab, settings, expected):
    start, entries = state(bg_lab), record(bg_lab)
    run = run_playbook(DEPLOY, inventory=bg_lab.inventory, env=bg_lab.env, extra_vars={"deploy_version": "1.1.0", **settings})
    assert run.rc != 0
    assert expected in run.flat and "Traceback" not in run.output, run.output[-3000:]
    assert state(bg_lab) == start and record(bg_lab) == entries
    assert not (Path(bg_lab.clinic(CODE)["app_root"]) / "deploy.lock").exists()


def test_down_stops_both_slots_and_nginx(bg_lab):
    row = bg_lab.json("status", "--json")["clinics"][0]
    ours = [info["pid"] for info in row["slots"].values()] + [row["front_pid"]]
    assert all(ours) and set(ours) <= set(bg_lab.pids())
    bg_lab.down()
    assert bg_lab.pids() == []
    assert not [pid for pid in ours if pid_alive(pid)]
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", bg_lab.clinic(CODE)["port"], timeout=2).request("GET", "/health/live")
