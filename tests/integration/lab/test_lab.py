"""The multi-clinic lab, for real: three clinics on one PostgreSQL and one Redis, each its own service."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import pwd
import shutil
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import psycopg2
import pytest
from bullmq import Queue

from harness.ansible import BIN, REPO, ansible_env, run_playbook
from medops_lab.lab import _cmdline
from medops_lab.servers import pid_alive
from medops_lab.testing import LabHandle, headers

pytestmark = pytest.mark.lab
CODES = ["kin", "lub", "gom"]
HOST_VARS = {
    "ansible_connection", "ansible_python_interpreter", "clinic_code", "clinic_name", "clinic_timezone",
    "clinic_db_host", "clinic_db_port", "clinic_db_name", "clinic_db_user",
    "clinic_redis_host", "clinic_redis_port", "clinic_redis_db", "clinic_queue_prefix",
    "clinic_queues", "clinic_base_url", "clinic_health_urls", "clinic_app_root", "clinic_backup_dir",
    "clinic_flags_file", "clinic_restart_command", "clinic_migrate_command", "clinic_environment",
    "clinic_flag_backend", "clinic_flag_store", "clinic_metrics_url",
}


def test_three_clinics_are_healthy_with_their_version(lab):
    assert [c["code"] for c in lab.clinics] == CODES
    for code in CODES:
        version = lab.version(code)
        assert os.readlink(Path(lab.clinic(code)["app_root"]) / "current") == f"releases/{version}"
        status, body = lab.get(code, "/health")
        assert status == 200, body
        assert body["status"] == "healthy" and body["version"] == version
        assert body["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok", "queue": "ok"}
        assert body["degraded_services"] == []
        expected_version = {"version": version, "clinic": code, "release": version, "environment": "production"}
        assert lab.get(code, "/api/version") == (200, expected_version)
        assert lab.get(code, "/health/live")[0] == 200
        assert lab.get(code, "/health/db") == (200, {"status": "ok", "database": "connected"})


def test_smoke_surfaces(lab):
    assert lab.get("kin", "/api/patients")[0] == 401
    assert lab.get("kin", "/api/dev")[0] == 403
    hdrs = headers(lab.url("kin", "/api/version"))
    assert int(hdrs["X-RateLimit-Limit"]) > 0 and 0 <= int(hdrs["X-RateLimit-Remaining"]) < int(hdrs["X-RateLimit-Limit"])


def test_flags_follow_the_env_file(lab):
    flags_file = Path(lab.clinic("lub")["flags_file"])
    original = flags_file.read_text()
    try:
        flags_file.write_text(original.replace("FEATURE_FLAG_NEW_UI=false", "FEATURE_FLAG_NEW_UI=true"))
        assert lab.get("lub", "/api/flags")[1]["flags"]["FEATURE_FLAG_NEW_UI"] is True
        assert lab.get("kin", "/api/flags")[1]["flags"]["FEATURE_FLAG_NEW_UI"] is False
    finally:
        flags_file.write_text(original)
    assert lab.get("lub", "/api/flags")[1]["flags"]["FEATURE_FLAG_NEW_UI"] is False


def test_database_outage_makes_every_clinic_unready_and_recovers(lab):
    lab.run("stop-db")
    try:
        for code in CODES:
            body = lab.wait_for(code, "/health/ready", 503)
            assert "database" in body["failed"] and body["ready"] is False
            status, health = lab.get(code, "/health")
            assert (status, health["status"]) == (503, "unhealthy")
            assert lab.get(code, "/health/live")[0] == 200
    finally:
        lab.run("start-db")
    for code in CODES:
        assert lab.wait_for(code, "/health/ready", 200)["ready"] is True


def test_redis_outage_degrades_and_recovers(lab):
    lab.run("stop-redis")
    try:
        body = lab.wait_for("gom", "/health/ready", 503)
        assert body["failed"] == ["redis"]
        status, health = lab.get("gom", "/health")
        assert status == 200 and health["status"] == "degraded" and "redis" in health["degraded_services"]
    finally:
        lab.run("start-redis")
    lab.wait_for("gom", "/health/ready", 200)


def _enqueue(lab, queue: str, count: int, sleep: float) -> list[str]:
    async def add() -> list[str]:
        q = Queue(queue, {"connection": lab.redis_connection(), "prefix": "bull"})
        try:
            return [(await q.add("visit", {"sleep": sleep, "n": n})).id for n in range(count)]
        finally:
            await q.close()

    return asyncio.run(add())


def _processed(lab, code: str) -> list[tuple[str, str]]:
    with contextlib.closing(psycopg2.connect(**lab.db_params(code))) as conn, conn.cursor() as cur:
        cur.execute("SELECT job_id, version FROM processed_jobs")
        return cur.fetchall()


def test_jobs_are_processed_once_by_their_clinic(lab):
    jobs = {code: _enqueue(lab, lab.clinic(code)["queue"], 8, 0.02) for code in CODES}
    for code, ids in jobs.items():
        rows = []
        for _attempt in range(200):
            rows = [row for row in _processed(lab, code) if row[0] in ids]
            if len(rows) >= len(ids):
                break
            asyncio.run(asyncio.sleep(0.1))
        assert sorted(row[0] for row in rows) == sorted(ids), f"{code}: each job exactly once"
        assert {row[1] for row in rows} == {lab.version(code)}


def test_restart_serves_from_current_with_a_new_pid(lab):
    before = lab.json("status", "--json")["clinics"][0]
    result = lab.json("restart", "kin")
    assert result["pid"] != before["pid"] and not pid_alive(before["pid"])
    assert lab.get("kin", "/health/ready")[0] == 200


def test_second_up_changes_nothing(lab):
    pids = sorted(lab.pids())
    result = lab.up()
    assert (result["postgres"], result["redis"], result["artifacts_built"]) == ("running", "running", [])
    assert all(not clinic["changed"] for clinic in result["clinics"].values()), result
    assert sorted(lab.pids()) == pids


def test_artifacts_are_checksummed_release_trees(lab):
    artifacts = Path(lab.info["artifacts_dir"])
    for version in ("1.0.0", "1.1.0", "1.2.0-bad", "1.2.0-badmigration"):
        tarball = artifacts / f"clinic-service-{version}.tar.gz"
        digest, name = (artifacts / f"{tarball.name}.sha256").read_text().split()
        assert name == tarball.name and digest == hashlib.sha256(tarball.read_bytes()).hexdigest()
        with tarfile.open(tarball) as tar:
            names = set(tar.getnames())
            assert tar.extractfile("VERSION").read().decode().strip() == version
        assert {"clinic_service/__main__.py", "clinic_service/migrate.py", "migrations/0001_initial.sql"} <= names
    assert lab.json("artifacts")[0]["changed"] is False


def test_inventory_script_describes_the_lab(lab):
    inv = lab.inventory_list()
    assert inv["clinics"]["children"] == [f"clinic_{code}" for code in CODES]
    for code in CODES:
        assert inv[f"clinic_{code}"]["hosts"] == [code]
        hostvars = inv["_meta"]["hostvars"][code]
        assert HOST_VARS <= set(hostvars)
        assert hostvars["clinic_code"] == code and hostvars["clinic_queues"] == [f"clinic-{code}"]
        assert set(hostvars["clinic_health_urls"]) == {"live", "ready", "health", "db"}
        with contextlib.closing(psycopg2.connect(host=hostvars["clinic_db_host"], port=hostvars["clinic_db_port"],
                                                 dbname=hostvars["clinic_db_name"], user=hostvars["clinic_db_user"],
                                                 password=lab.clinic_secrets(code)["clinic_db_password"])) as conn:
            assert conn.server_version >= 150000


def test_clinic_secrets_reach_ansible_only_through_the_vault(lab):
    """The inventory carries production's vault variables, still encrypted; Ansible decrypts them with
    the lab's vault password (0600, named by ansible.cfg through lab/bin/vault-password)."""
    listing = json.dumps(lab.inventory_list())
    vault_vars = lab.inventory_list()["all"]["vars"]
    assert set(vault_vars) == {"vault_clinic_db_passwords", "vault_clinic_db_backup_passwords", "vault_clinic_db_restore_passwords",
                               "vault_clinic_db_provisioner_passwords", "vault_clinic_redis_passwords", "vault_clinic_api_tokens"}
    assert oct(os.stat(lab.state / "secrets" / "vault-password").st_mode & 0o777) == "0o600"
    expected = {}
    for code in CODES:
        secrets = lab.clinic_secrets(code)
        assert set(secrets) == {"clinic_db_password", "clinic_db_backup_password", "clinic_db_restore_password",
                                "clinic_db_provisioner_password", "clinic_redis_password", "clinic_api_token"}
        for name, value in secrets.items():
            assert len(value) >= 32 and value not in listing, f"{code}.{name} is in the inventory in plain text"
            expected[(code, name)] = hashlib.sha256(value.encode()).hexdigest()
        assert vault_vars["vault_clinic_db_passwords"][code]["__ansible_vault"].startswith("$ANSIBLE_VAULT;")
    # Hashes only: the secrets themselves never go into a command line or this test's output.
    proc = subprocess.run([str(BIN / "ansible"), "-i", str(lab.inventory), "clinics", "-o",
                           "-m", "ansible.builtin.debug", "-a",
                           "msg={{ [clinic_db_password, clinic_redis_password, clinic_api_token] | map('hash', 'sha256') | join(',') }}"],
                          env={**ansible_env(), **lab.env}, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for code in CODES:
        line = next(line for line in proc.stdout.splitlines() if line.startswith(code + " "))
        assert [expected[(code, n)] for n in ("clinic_db_password", "clinic_redis_password", "clinic_api_token")] \
            == line.split('"msg": "')[1].split('"')[0].split(",")


def test_inventory_without_a_lab_is_empty_with_a_message(tmp_path):
    proc = subprocess.run([str(LabHandle(tmp_path).inventory / "lab_inventory.py"), "--list"],
                          env={**os.environ, "MEDOPS_LAB_STATE": str(tmp_path / "none")},
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["_meta"]["hostvars"] == {}
    assert "no lab" in proc.stderr and "Traceback" not in proc.stderr


def test_ansible_playbook_reaches_every_clinic(lab, tmp_path):
    playbook = tmp_path / "ready.yml"
    versions = {code: lab.version(code) for code in CODES}
    playbook.write_text("""\
- name: Every clinic answers ready
  hosts: clinics
  gather_facts: false
  tasks:
    - name: Probe readiness
      ansible.builtin.uri:
        url: "{{ clinic_health_urls.ready }}"
        status_code: 200
      register: ready
    - name: Ready body names this clinic's version
      ansible.builtin.assert:
        that:
          - ready.json.ready
          - ready.json.version == versions[inventory_hostname]
""")
    run = run_playbook(playbook, inventory=lab.inventory, env=lab.env, extra_vars={"versions": versions})
    assert run.rc == 0, run.output
    for code in CODES:
        assert f"{code}" in run.output and "failed=0" in run.output
    assert run.output.count("ok=2") == 3, run.output


def _deploy(lab: LabHandle, hostvars: dict, version: str) -> subprocess.CompletedProcess:
    """What the deploy role does: unpack, migrate inside the release, switch `current`, restart."""
    from medops_lab.artifacts import unpack

    release = Path(hostvars["clinic_app_root"]) / "releases" / version
    unpack(Path(lab.info["artifacts_dir"]) / f"clinic-service-{version}.tar.gz", release)
    migrate = subprocess.run(hostvars["clinic_migrate_command"], cwd=release, capture_output=True, text=True, check=False)
    if migrate.returncode == 0:
        link = Path(hostvars["clinic_app_root"]) / "current"
        tmp = link.with_name(".current.new")
        tmp.symlink_to(f"releases/{version}")
        os.replace(tmp, link)
        subprocess.run(hostvars["clinic_restart_command"], check=True, capture_output=True)
    return migrate


def test_second_lab_versions_and_down(tmp_path):
    """A lab of its own (4 clinics): releases behave as designed, and down leaves no process."""
    other = LabHandle.create("medops-lab2-")
    try:
        assert list(other.up(4)["clinics"]) == ["kin", "lub", "gom", "c04"]
        hostvars = other.inventory_list()["_meta"]["hostvars"]

        assert _deploy(other, hostvars["kin"], "1.1.0").returncode == 0
        assert other.get("kin", "/api/version")[1]["version"] == "1.1.0"
        assert other.get("kin", "/health/ready")[0] == 200

        assert _deploy(other, hostvars["lub"], "1.2.0-bad").returncode == 0
        status, body = other.get("lub", "/health/ready")
        assert (status, body["version"], body["failed"]) == (503, "1.2.0-bad", ["warmup"])

        failed = _deploy(other, hostvars["gom"], "1.2.0-badmigration")
        assert failed.returncode != 0 and "0003_insurance_broken" in failed.stderr
        with contextlib.closing(psycopg2.connect(**other.db_params("gom"))) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = 'patients'"
                        " AND column_name = 'insurance_id'")
            assert cur.fetchone()[0] == 1, "first statement of the broken migration stays committed"
            cur.execute("SELECT version FROM schema_migrations ORDER BY version")
            assert [row[0] for row in cur.fetchall()] == ["0001_initial", "0002_appointments"]
        assert other.get("gom", "/api/version")[1]["version"] == "1.0.0", "a failed migration never switches"

        pids = other.pids()
        assert len(pids) == 8  # 4 services, PostgreSQL, Redis, sshd, the artifact server
        accounts = [clinic["account"] for clinic in other.clinics]
        sudoers = Path(other.info["sudoers_file"])
        assert all(_account_exists(name) for name in accounts) and sudoers.exists()
        secrets = [other.secret(other.info["postgres"]["password_file"]), other.secret(other.clinic("kin")["db_password_file"])]
        for pid in pids:
            assert not any(secret in _cmdline(pid) for secret in secrets)
    finally:
        result = other.run("down", check=False)
        pids_after = other.pids() if result.returncode == 0 else None
        other.run("down", "--purge", check=False)
    assert result.returncode == 0, result.stderr
    assert pids and not [pid for pid in pids if pid_alive(pid)]
    assert pids_after == []
    # down removes what made the clinics hosts: their accounts and their sudo rules.
    assert not [name for name in accounts if _account_exists(name)] and not sudoers.exists()


def _account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_sigterm_lets_the_active_job_finish(lab):
    """restart (SIGTERM) during a long job: the worker finishes it before exiting; nothing lost or doubled."""
    import redis

    queue = lab.clinic("lub")["queue"]
    client = redis.Redis(**lab.redis_connection())
    [job_id] = _enqueue(lab, queue, 1, 1.5)
    # Until the worker has taken the job (a busy machine may take seconds); it then stays active 1.5 s.
    deadline = time.monotonic() + 30
    while not client.lrange(f"bull:{queue}:active", 0, -1) and time.monotonic() < deadline:
        asyncio.run(asyncio.sleep(0.05))
    assert client.lrange(f"bull:{queue}:active", 0, -1) == [job_id.encode()]
    lab.run("restart", "lub")
    assert [row for row in _processed(lab, "lub") if row[0] == job_id] == [(job_id, lab.version("lub"))]
    assert client.hget(f"bull:{queue}:{job_id}", "finishedOn") is not None


def test_service_starts_without_its_database_and_redis_and_recovers(lab):
    lab.run("stop-db")
    lab.run("stop-redis")
    try:
        lab.run("restart", "kin")
        status, body = lab.get("kin", "/health/ready")
        assert status == 503 and {"database", "redis"} <= set(body["failed"])
        assert lab.get("kin", "/health")[1]["status"] == "unhealthy"
    finally:
        lab.run("start-db")
        lab.run("start-redis")
    assert lab.wait_for("kin", "/health", 200)["status"] in ("healthy", "degraded")
    lab.wait_for("kin", "/health/ready", 200)
    [job_id] = _enqueue(lab, lab.clinic("kin")["queue"], 1, 0)
    for _attempt in range(300):
        if any(row[0] == job_id for row in _processed(lab, "kin")):
            break
        asyncio.run(asyncio.sleep(0.1))
    assert [row[0] for row in _processed(lab, "kin") if row[0] == job_id] == [job_id]


def test_a_lab_in_a_closed_directory_keeps_postgres_where_its_account_can_enter(tmp_path):
    """A root checkout under /root (0700): PostgreSQL's data goes under /var/lib/medops-lab, and purge takes it."""
    if os.geteuid() != 0:
        pytest.fail("this test needs root: PostgreSQL is demoted to its own account only when the lab runs as root")
    closed = Path(tempfile.mkdtemp(prefix="medops-closed-"))  # 0700, as /root is
    other = LabHandle(closed / "state")
    try:
        other.up(1)
        home = Path(other.info["postgres"]["datadir"]).parent
        assert home.parent.parent == Path("/var/lib/medops-lab") and home.name == "postgres"
        assert [(c["clinic"], c["health"]) for c in other.json("status", "--json")["clinics"]] == [("kin", "healthy")]
    finally:
        down = other.run("down", check=False)
        purge = other.run("down", "--purge", check=False)
        shutil.rmtree(closed, ignore_errors=True)
    assert down.returncode == 0 and purge.returncode == 0, down.stderr + purge.stderr
    assert not home.parent.exists() and not (closed / "state").exists()
