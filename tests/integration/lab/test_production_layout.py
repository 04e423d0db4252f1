"""The lab in production's layout (what `make lab-up` and `make demo` start): each clinic deployed
over SSH by the strategy inventories/production gives it, kin `release`, lub `container` (podman's
Docker API, the lab's own), gom `blue_green`, and `down` leaves nothing of any of them."""

from __future__ import annotations

import os
import pwd
import re
import socket
import subprocess
from pathlib import Path

import pytest

from harness.ansible import REPO, run_playbook

pytestmark = pytest.mark.lab
STRATEGIES = {"kin": "release", "lub": "container", "gom": "blue_green"}


def uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


def socket_answers_as(account: str, path: str) -> subprocess.CompletedProcess:
    """Connect to a unix socket as ``account`` (what its deploy would do to reach the Docker API)."""
    probe = ("import socket, sys\ns = socket.socket(socket.AF_UNIX)\n"
             "try:\n    s.connect(sys.argv[1]); s.sendall(b'GET /_ping HTTP/1.0\\r\\n\\r\\n'); print(s.recv(64).decode())\n"
             "except OSError as exc:\n    print(type(exc).__name__); sys.exit(3)\n")
    return subprocess.run(["runuser", "-u", account, "--", "/usr/bin/python3", "-c", probe, path],
                          capture_output=True, text=True, timeout=30, check=False)


def test_each_clinic_runs_the_strategy_production_gives_it(production_lab):
    status = production_lab.json("status", "--json")
    assert {row["clinic"]: row["strategy"] for row in status["clinics"]} == STRATEGIES
    assert all(row["health"] == "healthy" and row["version"] == "1.0.0" for row in status["clinics"]), status
    hostvars = production_lab.inventory_list()["_meta"]["hostvars"]
    assert {code: hostvars[code].get("deploy_strategy", "release") for code in STRATEGIES} == STRATEGIES
    assert hostvars["lub"]["clinic_migrate_command"][:2] == ["sudo", "-n"]


def test_only_the_container_clinic_reaches_the_podman_socket(production_lab):
    path = production_lab.info["podman"]["socket"]
    lub = socket_answers_as(production_lab.clinic("lub")["account"], path)
    assert lub.returncode == 0 and "200 OK" in lub.stdout, lub.stdout + lub.stderr
    kin = socket_answers_as(production_lab.clinic("kin")["account"], path)
    assert kin.returncode == 3 and "PermissionError" in kin.stdout, kin.stdout + kin.stderr


def test_the_demo_deploy_reaches_every_strategy_over_ssh(production_lab):
    lab = production_lab
    run = run_playbook(REPO / "playbooks" / "deploy.yml", inventory=lab.inventory, env=lab.env,
                       extra_vars={"deploy_version": "1.1.0"})
    assert run.rc == 0, run.output[-6000:]
    status = {row["clinic"]: row for row in lab.json("status", "--json")["clinics"]}
    for code in STRATEGIES:
        assert (status[code]["health"], status[code]["version"]) == ("healthy", "1.1.0"), status[code]
        assert lab.get(code, "/api/version")[1]["version"] == "1.1.0"
        # Whatever the strategy, what serves the clinic runs as the clinic's account.
        assert uid_of(status[code]["pid"]) == pwd.getpwnam(lab.clinic(code)["account"]).pw_uid, code
    containers = {row["version"]: row["state"] for row in status["lub"]["containers"]}
    assert containers == {"1.0.0": "exited", "1.1.0": "running"}, containers
    assert status["gom"]["live_slot"] == "green" and status["gom"]["slots"]["blue"]["version"] == "1.0.0"
    # lub's 1.1.0 migration ran in a one-off container of its image, through lab-ctl.
    assert re.search(r"Migrate \| run the release's migrations\] \**\nchanged: \[lub\]", run.output), run.output[-6000:]


def test_down_removes_containers_podman_and_accounts(production_lab):
    lab = production_lab
    accounts = [lab.clinic(code)["account"] for code in STRATEGIES]
    storage = lab.info["podman"]
    lab.down()
    assert lab.pids() == []
    listing = subprocess.run(["podman", "--root", storage["root"], "--runroot", storage["runroot"], "--storage-driver",
                              "vfs", "ps", "--all", "--quiet"], env={**os.environ, "CONTAINERS_CONF": storage["conf"]},
                             capture_output=True, text=True, timeout=60, check=True)
    assert listing.stdout.split() == []
    for account in accounts:
        with pytest.raises(KeyError):
            pwd.getpwnam(account)
    with pytest.raises(OSError):
        socket.socket(socket.AF_UNIX).connect(storage["socket"])
