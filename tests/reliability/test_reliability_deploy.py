"""Faults injected into real deploys on the suite's lab (kin, lub, gom on 1.0.0).

Every scenario deploys to one clinic (--limit, one batch) and ends with every clinic healthy, on
the version it started on (gom excepted: its interrupted run is recovered to 1.1.0 on purpose),
queues running and no lock left. kin takes the outages, lub the crash, gom the killed run; the
killed run happens first and is recovered last, so the stale-lock threshold (one minute, the
smallest deploy_lock_stale_minutes accepts) passes while the other scenarios run.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg2
import pytest
from bullmq import Queue

from reliability_tools import (
    PARTIAL, Background, app_root, assert_healthy, backups, deploy, lock_path, paused, record, redis_client,
    releases, service_pid, snapshot, table_locked, wait_for)

pytestmark = pytest.mark.lab
# gom's interrupted run holds its lock until the last test recovers it.
SETTLED = ("kin", "lub")


def started_entry(lab, code, since: int):
    return [e for e in record(lab, code)[since:] if e.get("phase") == "started"]


@pytest.fixture(scope="module")
def interrupted_gom(rlab):
    """A deploy of 1.1.0 to gom killed with SIGKILL (the whole ansible-playbook process group) once
    it holds the lock and has written its 'started' entry."""
    assert rlab.version("gom") == "1.0.0"
    since = len(record(rlab, "gom"))
    run = Background(rlab, "1.1.0", "gom")
    run.until(lambda: lock_path(rlab, "gom").exists() and started_entry(rlab, "gom", since), "the lock and 'started'")
    run.kill9()
    rc, output = run.finish()
    import json
    lock = json.loads(lock_path(rlab, "gom").read_text())
    return {"rc": rc, "output": output, "lock": lock, "run_id": started_entry(rlab, "gom", since)[0]["run_id"],
            "since": since}


def test_kill9_leaves_a_lock_and_an_unfinished_record(rlab, interrupted_gom, scenario):
    scenario("kill -9 ansible-playbook mid-deploy (gom), part 1",
             "lock left naming the run; record has 'started' and no 'finished'")
    assert interrupted_gom["rc"] == -9
    assert interrupted_gom["lock"]["run_id"] == interrupted_gom["run_id"]
    entries = [e for e in record(rlab, "gom")[interrupted_gom["since"]:] if e.get("run_id") == interrupted_gom["run_id"]]
    assert [e["phase"] for e in entries] == ["started"]
    scenario.observe(f"lock of run {interrupted_gom['run_id']} left, record: started only")


def test_postgres_down_before_the_deploy(rlab, scenario):
    scenario("PostgreSQL down at preflight (kin)", "refused at preflight; nothing changed, nothing paused")
    before, entries = snapshot(rlab, "kin"), len(record(rlab, "kin"))
    rlab.run("stop-db")
    try:
        run = deploy(rlab, "1.1.0", "kin")
    finally:
        rlab.run("start-db")
    assert run.rc != 0
    failed_task = run.output.split("fatal: [kin]")[0].rsplit("TASK [", 1)[-1]
    assert failed_task.startswith("medops.runbook.deploy : Preflight | check the clinic is healthy now"), run.output[-3000:]
    assert snapshot(rlab, "kin") == before
    assert len(record(rlab, "kin")) == entries, "a refused deploy must not start a record"
    assert not lock_path(rlab, "kin").exists() and not paused(rlab, "kin")
    scenario.observe(f"rc={run.rc}, failed at the preflight health check; version {rlab.version('kin')}, releases and backups unchanged")
    assert_healthy(rlab, SETTLED)


def test_postgres_down_during_the_backup(rlab, scenario):
    scenario("PostgreSQL down during the backup (kin)",
             "fails at 'backup'; no backup, no change; queue not paused; lock released")
    before, entries = snapshot(rlab, "kin"), len(record(rlab, "kin"))
    try:
        with table_locked(rlab, "kin"):
            run = Background(rlab, "1.1.0", "kin")
            run.until(lambda: any(b.startswith(PARTIAL) for b in backups(rlab, "kin")), "the dump started")
            rlab.run("stop-db")
        rc, output = run.finish()
    finally:
        rlab.run("start-db")
    assert rc != 0
    assert "failed at step 'backup'" in output, output[-3000:]
    assert "Nothing live was changed" in output
    assert snapshot(rlab, "kin") == before
    assert not [b for b in backups(rlab, "kin") if b.startswith(PARTIAL)], "a partial dump was left behind"
    last = record(rlab, "kin")[-1]
    assert len(record(rlab, "kin")) == entries + 2 and last["phase"] == "finished" and last["outcome"] == "failed"
    assert last["failed_step"] == "backup"
    assert not paused(rlab, "kin") and not lock_path(rlab, "kin").exists()
    scenario.observe(f"rc={rc}, failed at 'backup', record outcome={last['outcome']}; version and backups unchanged")
    assert_healthy(rlab, SETTLED)


def test_release_that_failed_before_any_change_is_not_blacklisted(rlab, scenario):
    scenario("redeploy after the backup-step failure (kin, --check)",
             "1.1.0 is still deployable: preflight passes, check mode run succeeds")
    assert record(rlab, "kin")[-1]["failed_step"] == "backup", "runs after test_postgres_down_during_the_backup"
    run = deploy(rlab, "1.1.0", "kin", "--check")
    scenario.observe(f"rc={run.rc}, refused as failed before={'failed and was rolled back' in run.flat}")
    assert "failed and was rolled back" not in run.flat
    assert run.rc == 0, run.output[-3000:]


@pytest.fixture()
def kin_lock_released(rlab):
    """After a scenario that may leave kin's lock behind, release it the way an operator would."""
    yield
    from harness.ansible import run_module

    if lock_path(rlab, "kin").exists():
        run_module("deploy_lock", {"path": str(lock_path(rlab, "kin")), "run_id": "reliability-cleanup",
                                   "state": "released", "force": True})


def _hold_the_drain(lab, code, seconds: float) -> None:
    """A job that stays active for ``seconds``: the drain (pause, then wait for active jobs) waits for it."""
    async def add():
        queue = Queue(f"clinic-{code}", {"connection": lab.redis_connection(), "prefix": "bull"})
        try:
            await queue.add("visit", {"sleep": seconds, "n": 0})
        finally:
            await queue.close()

    asyncio.run(add())
    wait_for(lambda: redis_client(lab).llen(f"bull:clinic-{code}:active") > 0, 30, "the long job is active")


async def _resume(lab, code) -> None:
    queue = Queue(f"clinic-{code}", {"connection": lab.redis_connection(), "prefix": "bull"})
    try:
        await queue.resume()
    finally:
        await queue.close()


def test_redis_down_during_the_drain(rlab, kin_lock_released, scenario):
    scenario("Redis down during the drain (kin)",
             "fails at 'drain', clear error; no backup, release not switched; lock released; the run says the "
             "queue stays paused, and it resumes once Redis returns")
    before, backups_before = snapshot(rlab, "kin"), backups(rlab, "kin")
    # The queues are drained before the backup (seed 002): a long active job holds the deploy in the drain.
    _hold_the_drain(rlab, "kin", 20)
    try:
        run = Background(rlab, "1.2.0-badmigration", "kin")
        run.until(lambda: paused(rlab, "kin"), "the drain paused the queue")
        rlab.run("stop-redis")
        rc, output = run.finish()
    finally:
        rlab.run("start-redis")
    assert rc != 0
    assert lab_version_untouched(rlab, "kin", before)
    assert backups(rlab, "kin") == backups_before, "a failed drain takes no backup"
    assert re.search(r"reading the active jobs of queue 'clinic-kin' failed: .*Connection refused", output), output[-3000:]
    assert "Traceback" not in output
    # The drain had paused the queue when Redis went away: the run says it stays paused.
    assert "the queue(s) clinic-kin stay PAUSED. Nothing live was changed." in output, output[-3000:]
    last = record(rlab, "kin")[-1]
    scenario.observe(f"rc={rc}, 'Connection refused', 'stay PAUSED', version {rlab.version('kin')}, releases and backups unchanged, "
                     f"lock left={lock_path(rlab, 'kin').exists()}, last record phase={last['phase']}")
    assert not lock_path(rlab, "kin").exists(), "the lock must be released even when Redis is down at resume time"
    assert last["phase"] == "finished" and last["failed_step"] == "drain", last
    assert "failed at step 'drain'" in output, output[-3000:]
    # What the message tells the on-call to do, once Redis answers.
    asyncio.run(_resume(rlab, "kin"))
    wait_for(lambda: not paused(rlab, "kin"), 10, "the queue is running")
    assert_healthy(rlab, SETTLED)


def lab_version_untouched(lab, code, before) -> bool:
    now = snapshot(lab, code)
    return now["version"] == before["version"] and now["releases"] == before["releases"]


@pytest.fixture()
def lub_repaired(rlab):
    """If the rollback left lub half way (the known restore bug below), put 1.0.0 back by hand so
    the scenarios after this one start from a healthy lab."""
    yield
    from harness.ansible import run_module

    if lock_path(rlab, "lub").exists():  # seen once when the kill landed during the switch's restart
        run_module("deploy_lock", {"path": str(lock_path(rlab, "lub")), "run_id": "reliability-cleanup",
                                   "state": "released", "force": True})
    if rlab.version("lub") == "1.0.0" and rlab.get("lub", "/health/ready")[0] == 200:
        return
    conn = psycopg2.connect(**rlab.db_params("lub"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS appointments; ALTER TABLE patients DROP COLUMN IF EXISTS phone;"
                    " DELETE FROM schema_migrations WHERE version = '0002_appointments'")
    conn.close()
    link = app_root(rlab, "lub") / "current.repair"
    os.symlink("releases/1.0.0", link)
    os.replace(link, app_root(rlab, "lub") / "current")
    rlab.run("restart", "lub")


def test_service_crash_right_after_the_switch(rlab, lub_repaired, scenario):
    scenario("service killed -9 right after the switch (lub)",
             "rolled back to 1.0.0 (database restored), healthy, queue resumed")
    assert rlab.version("lub") == "1.0.0"
    old_pid = service_pid(rlab, "lub")
    run = Background(rlab, "1.1.0", "lub", deploy_health_wait_timeout=8)
    run.until(lambda: rlab.get("lub", "/api/version")[1].get("version") == "1.1.0", "1.1.0 serves", timeout=120)
    crashed = service_pid(rlab, "lub")
    assert crashed != old_pid
    os.kill(crashed, 9)
    rc, output = run.finish()
    assert rc != 0
    # The kill lands while the restart command still waits for the port, or during verify.
    assert re.search(r"lub: deploy of 1\.1\.0 failed at step '(switch|verify)'", output), output[-3000:]
    last = record(rlab, "lub")[-1]
    scenario.observe(f"rc={rc}, outcome {last['outcome']} at {last['failed_step']}, lub on {rlab.version('lub')},"
                     f" lock left={lock_path(rlab, 'lub').exists()}")
    assert "Rolled back to 1.0.0" in output, output[-3000:]
    assert last["outcome"] == "rolled_back"
    assert rlab.version("lub") == "1.0.0"
    assert rlab.get("lub", "/api/version")[1]["version"] == "1.0.0"
    assert (app_root(rlab, "lub") / "releases" / "1.1.0" / ".medops-bad").exists()
    assert_healthy(rlab, SETTLED)


@pytest.fixture()
def small_disk():
    """A 3 MiB tmpfs of the test's own (needs root and mount permission)."""
    mountpoint = Path(tempfile.mkdtemp(prefix="medops-fulldisk-"))
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0755", "tmpfs", str(mountpoint)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        mountpoint.rmdir()
        pytest.skip(f"cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN): {proc.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=False)
        mountpoint.rmdir()


@pytest.fixture()
def kin_ballast(rlab):
    """~6 MiB of incompressible rows in kin's database, so its dump outgrows the small disk."""
    conn = psycopg2.connect(**rlab.db_params("kin"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE reliability_ballast AS SELECT g AS id, decode(md5(random()::text) || md5(random()::text), 'hex') AS junk"
                    " FROM generate_series(1, 200000) g")
    try:
        yield
    finally:
        with conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS reliability_ballast")
        conn.close()


def test_backup_disk_fills_up_during_the_dump(rlab, small_disk, kin_ballast, scenario):
    from harness.ansible import run_module

    scenario("backup disk fills up during the dump (kin, 3 MiB tmpfs)",
             "db_backup fails cleanly, no file under a final name; deploy stops at 'backup', nothing changed")
    dest = small_disk / "backups"
    dest.mkdir(mode=0o700)
    params = rlab.db_params("kin")
    dumped = run_module("db_backup", {"engine": "postgresql", "state": "dumped", "dest": str(dest), "login_host": params["host"],
                                      "login_port": params["port"], "login_user": params["user"],
                                      "login_password": params["password"], "database": params["dbname"], "clinic": "kin"})
    assert dumped.get("failed") is True
    assert "Traceback" not in dumped["_run"].output
    assert "space" in dumped["msg"].lower(), dumped["msg"]
    assert os.listdir(dest) == [], f"left in the backup dir: {os.listdir(dest)}"
    scenario.observe(f"module: {dumped['msg'][:90]}")

    before, entries = snapshot(rlab, "kin"), len(record(rlab, "kin"))
    # 1.2.0-bad: no earlier scenario failed it on kin (see the blacklist xfail above).
    run = deploy(rlab, "1.2.0-bad", "kin", deploy_backup_dir=str(dest), deploy_min_free_disk_mb=1)
    assert run.rc != 0
    assert "failed at step 'backup'" in run.output, run.output[-3000:]
    assert snapshot(rlab, "kin") == before
    assert os.listdir(dest) == [], f"left in the backup dir: {os.listdir(dest)}"
    assert record(rlab, "kin")[-1]["failed_step"] == "backup" and len(record(rlab, "kin")) == entries + 2
    scenario.observe(f"deploy rc={run.rc} at 'backup', version {rlab.version('kin')}, backup dir empty")
    assert_healthy(rlab, SETTLED)


def test_kill9_recovery_reports_then_breaks_the_stale_lock(rlab, interrupted_gom, scenario):
    scenario("kill -9 ansible-playbook mid-deploy (gom), part 2",
             "next run names the stale lock and the interrupted run; breaks it on request; one version live, queue resumed")
    # The lock must be older than the threshold (1 minute, the smallest the role accepts).
    age = time.time() - float(interrupted_gom["lock"]["acquired_epoch"])
    if age < 62:
        time.sleep(62 - age)
    refused = deploy(rlab, "1.1.0", "gom", deploy_lock_stale_minutes=1)
    assert refused.rc != 0
    assert "is stale" in refused.output and interrupted_gom["run_id"] in refused.output, refused.output[-3000:]
    assert "interrupted" in refused.output and "deploy_break_stale_lock=true" in refused.output
    assert lock_path(rlab, "gom").exists()
    scenario.observe("refused: 'stale' lock and interrupted run named")

    # -vvv: this whole deploy's verbose output is also searched for secrets (by deploy()).
    run = deploy(rlab, "1.1.0", "gom", "-vvv", deploy_lock_stale_minutes=1, deploy_break_stale_lock=True)
    assert run.rc == 0, run.output[-3000:]
    assert "broke the stale lock of run " + interrupted_gom["run_id"] in " ".join(run.output.split())
    assert rlab.version("gom") == "1.1.0" and rlab.get("gom", "/api/version")[1]["version"] == "1.1.0"
    assert os.readlink(app_root(rlab, "gom") / "current") == "releases/1.1.0"
    assert not [r for r in releases(rlab, "gom") if r.startswith(".")], "a staging directory was left"
    assert record(rlab, "gom")[-1]["outcome"] == "success"
    scenario.observe(f"broke the lock, gom on {rlab.version('gom')} (served), queue paused={paused(rlab, 'gom')}")
    assert_healthy(rlab)
