"""Helpers for the fault-injection scenarios: run playbooks on the suite's lab in the foreground or
the background, watch for the moment to inject a fault, and snapshot a clinic's state."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
import redis

from harness.ansible import BIN, REPO, ansible_env, run_playbook
from harness.pgdata import PARTIAL

DEPLOY = REPO / "playbooks" / "deploy.yml"
SECRET_VARS = ("clinic_db_password", "clinic_db_backup_password", "clinic_db_restore_password", "clinic_db_provisioner_password",
               "clinic_redis_password", "clinic_api_token")


def wait_for(predicate, timeout: float, what: str, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(interval)


def secrets(lab) -> dict[str, str]:
    """Every password and token the lab inventory hands to the playbooks, per clinic."""
    hostvars = lab.inventory_list()["_meta"]["hostvars"]
    found = {}
    for host, values in hostvars.items():
        values = {**values, **lab.clinic_secrets(host)}  # the vault's, decrypted
        for name in SECRET_VARS:
            assert len(values[name]) >= 16, f"{host}.{name} is too short to search for"
            found[f"{host}.{name}"] = values[name]
    return found


def leaked(lab, output: str) -> list[str]:
    return sorted(name for name, value in secrets(lab).items() if value in output)


def deploy(lab, version: str, code: str, *args: str, **extra_vars):
    """deploy.yml for one clinic, one batch; the output must never carry a secret."""
    run = run_playbook(DEPLOY, "--limit", code, *args, inventory=lab.inventory, env=lab.env,
                       extra_vars={"deploy_version": version, "deploy_serial": 1, **extra_vars})
    assert not leaked(lab, run.output), f"secrets in the output: {leaked(lab, run.output)}"
    return run


class Background:
    """ansible-playbook deploy.yml in its own process group, so a test can kill -9 it whole."""

    def __init__(self, lab, version: str, code: str, **extra_vars):
        self.lab = lab
        self.varsfile = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
        json.dump({"deploy_version": version, "deploy_serial": 1, **extra_vars}, self.varsfile)
        self.varsfile.close()
        self.log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(
            [str(BIN / "ansible-playbook"), str(DEPLOY), "-i", str(lab.inventory), "--limit", code,
             "-e", f"@{self.varsfile.name}"],
            cwd=REPO, env=ansible_env(lab.env), stdout=self.log, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)

    def running(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def finish(self, timeout: float = 300) -> tuple[int, str]:
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.kill9()
            os.unlink(self.varsfile.name)
        self.log.seek(0)
        output = self.log.read()
        self.log.close()
        assert not leaked(self.lab, output), f"secrets in the output: {leaked(self.lab, output)}"
        return rc, output

    def until(self, predicate, what: str, timeout: float = 90):
        """Wait for ``predicate`` while the run is alive (a run that ended early fails the test)."""
        def check():
            if predicate():
                return True
            if not self.running():
                self.log.seek(0)
                raise AssertionError(f"the deploy ended before {what}:\n{self.log.read()[-3000:]}")
            return False
        return wait_for(check, timeout, what)


# -- a clinic's state ---------------------------------------------------------------------------
def app_root(lab, code) -> Path:
    return Path(lab.clinic(code)["app_root"])


def record(lab, code) -> list[dict]:
    path = app_root(lab, code) / "deployments.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def releases(lab, code) -> list[str]:
    return sorted(os.listdir(app_root(lab, code) / "releases"))


def backups(lab, code, directory=None) -> list[str]:
    path = Path(directory or lab.clinic(code)["backup_dir"])
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def lock_path(lab, code) -> Path:
    return app_root(lab, code) / "deploy.lock"


def redis_client(lab):
    return redis.Redis(**lab.redis_connection(), socket_timeout=5)


def paused(lab, code) -> bool:
    """Is the clinic's BullMQ queue paused (the meta hash's ``paused`` field, as BullMQ sets it)?"""
    return redis_client(lab).hget(f"bull:clinic-{code}:meta", "paused") is not None


def snapshot(lab, code, backup_dir=None) -> dict:
    """What a deploy that stops early must leave exactly as it was (the record aside)."""
    return {"version": lab.version(code), "releases": releases(lab, code),
            "backups": [b for b in backups(lab, code, backup_dir) if not b.startswith(PARTIAL)]}


def service_pid(lab, code) -> int:
    return int((Path(lab.clinic(code)["run_dir"]) / "service.pid").read_text().split()[0])


@contextlib.contextmanager
def table_locked(lab, code, table="processed_jobs"):
    """Hold an ACCESS EXCLUSIVE lock, so a pg_dump of the clinic waits (the health checks do not
    read this table). Lets a test stop a server while the dump is surely in progress."""
    conn = psycopg2.connect(**lab.db_params(code))
    try:
        with conn.cursor() as cur:
            cur.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
        yield conn
    finally:
        with contextlib.suppress(psycopg2.Error):
            conn.rollback()
        conn.close()


def assert_healthy(lab, settled=("kin", "lub", "gom")) -> None:
    """The end state every scenario leaves: each clinic ready and serving its current version; the
    ``settled`` ones (all but a clinic whose interrupted run awaits recovery) with the queue running
    and no lock."""
    for code in ("kin", "lub", "gom"):
        body = lab.wait_for(code, "/health/ready", 200, timeout=60)
        assert body.get("ready") is True, body
        assert lab.get(code, "/api/version")[1].get("version") == lab.version(code)
    for code in settled:
        assert not paused(lab, code), f"{code}: queue left paused"
        assert not lock_path(lab, code).exists(), f"{code}: deploy lock left behind"
