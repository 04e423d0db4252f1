"""playbooks/health_check.yml and playbooks/maintenance.yml on the lab."""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import shutil
import tempfile
from pathlib import Path

import psycopg2
import pytest

from harness.ansible import REPO, run_module, run_playbook

pytestmark = pytest.mark.lab


def _report_rows(tmp_path):
    table = sorted((tmp_path / "reports").glob("health-*.md"))[-1].read_text().splitlines()
    # A cell may hold an escaped pipe (a pattern in a problem): split on the others only.
    return {cells[0]: cells for cells in ([c.strip() for c in re.split(r"(?<!\\)\|", line.strip("|"))] for line in table[2:])}


def test_health_check_tells_degraded_from_down(lab, tmp_path):
    healthy = run_playbook(REPO / "playbooks" / "health_check.yml", inventory=lab.inventory, env={**lab.env, "PWD": str(tmp_path / "a")},
                           extra_vars={"health_check_backup_max_age_hours": 100000})
    assert healthy.rc == 0, healthy.output[-3000:]
    lab.run("stop-redis")
    lab.run("stop-service", "gom")
    try:
        run = run_playbook(REPO / "playbooks" / "health_check.yml", inventory=lab.inventory, env={**lab.env, "PWD": str(tmp_path / "b")})
    finally:
        lab.run("start-redis")
        lab.run("start-service", "gom")
    assert run.rc != 0
    rows = _report_rows(tmp_path / "b")
    assert rows["gom"][1] == "down", rows
    assert rows["kin"][1] == "degraded" and rows["lub"][1] == "degraded", rows
    assert rows["kin"][4] == "fail"  # redis column
    assert "down: gom" in run.flat and "degraded: kin, lub" in run.flat
    for code in ("kin", "lub", "gom"):
        lab.wait_for(code, "/health/ready", 200)


def test_health_check_reports_a_paused_queue_as_degraded(lab, tmp_path):
    """A queue left paused (a deploy that could not resume it) looks healthy from the service's
    endpoints; the health check reads the queue and says so."""
    queue_args = {"backend": "bullmq", "queues": ["clinic-lub"], "prefix": "bull", **{
        f"redis_{k}": v for k, v in lab.redis_connection().items()}}
    paused = run_module("queue_pause", {**queue_args, "state": "paused"})
    assert paused.get("failed") is not True, paused
    try:
        run = run_playbook(REPO / "playbooks" / "health_check.yml", inventory=lab.inventory, env={**lab.env, "PWD": str(tmp_path)},
                           extra_vars={"health_check_backup_max_age_hours": 100000})
    finally:
        resumed = run_module("queue_pause", {**queue_args, "state": "resumed"})
    assert resumed.get("failed") is not True and resumed["queues"]["clinic-lub"]["paused"] is False
    assert run.rc == 0, run.output[-3000:]  # degraded is reported, not failed (health_check_fail_on_degraded)
    rows = _report_rows(tmp_path)
    assert rows["lub"][1] == "degraded" and "queue clinic-lub: paused" in rows["lub"][7], rows
    assert "queue" not in rows["kin"][7], rows  # kin has no backup in a fresh lab: degraded for that alone


def test_health_check_counts_log_errors_masked_and_sees_a_stopped_process(lab, tmp_path):
    """Seed 000's "errors in the last hour" and "is the process up": error lines are counted and shown
    masked (no e-mail address, no token), a stopped service is named by its missing process."""
    logs = Path(tempfile.mkdtemp(prefix="medops-logs-"))  # where the clinic accounts can read (pytest's tmp is root's)
    now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    lines = [f"{now},000 kin 1.1.0 ERROR clinic_service.http: lookup {n} failed for jane.doe@example.org "
             f"token=SECRET-VALUE-{n}" for n in range(12)]
    (logs / "kin.log").write_text("\n".join(["2020-01-01 00:00:00,000 kin 1.0.0 ERROR long ago", *lines]) + "\n")
    os.chmod(logs / "kin.log", 0o644)
    os.chmod(logs, 0o755)
    lab.run("stop-service", "gom")
    try:
        run = run_playbook(REPO / "playbooks" / "health_check.yml", inventory=lab.inventory, env={**lab.env, "PWD": str(tmp_path)},
                           extra_vars={"health_check_backup_max_age_hours": 100000,
                                       # Each clinic scans its own file here; only kin's exists.
                                       "health_check_log_files": [f"{logs}/{{{{ clinic_code }}}}.log"]})
    finally:
        lab.run("start-service", "gom")
    rows = _report_rows(tmp_path)
    assert "logs: 12 error lines since" in rows["kin"][7], run.output[-4000:]
    assert "logs" not in rows["lub"][7], rows  # its file is missing: nothing to count
    assert "process: no process matches" in rows["gom"][7], rows
    assert "process" not in rows["kin"][7] and "process" not in rows["lub"][7], rows
    assert "jane.doe@example.org" not in run.output and "SECRET-VALUE" not in run.output
    shutil.rmtree(logs)
    lab.wait_for("gom", "/health/ready", 200)


@pytest.fixture()
def audit_rows(lab):
    """An audit_log in kin's database with 40 rows at each age: 10, 89, 91 and 200 days."""
    params = lab.db_params("kin")
    with contextlib.closing(psycopg2.connect(**params)) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS audit_log")
        cur.execute("CREATE TABLE audit_log (id serial PRIMARY KEY, created_at timestamptz NOT NULL)")
        for days in (10, 89, 91, 200):
            cur.execute("INSERT INTO audit_log (created_at) SELECT now() - make_interval(days => %s) FROM generate_series(1, 40)",
                        (days,))
        conn.commit()

    def ages():
        with contextlib.closing(psycopg2.connect(**params)) as conn, conn.cursor() as cur:
            cur.execute("SELECT extract(day FROM now() - created_at)::int, count(*) FROM audit_log GROUP BY 1 ORDER BY 1")
            return dict(cur.fetchall())

    yield ages
    with contextlib.closing(psycopg2.connect(**params)) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS audit_log")
        conn.commit()


PURGE = {"maintenance_purge": [{"table": "audit_log", "column": "created_at", "older_than_days": 90, "batch_size": 25}]}


def test_maintenance_purges_exactly_the_old_rows_and_check_mode_only_counts(lab, audit_rows):
    assert audit_rows() == {10: 40, 89: 40, 91: 40, 200: 40}
    dry = run_playbook(REPO / "playbooks" / "maintenance.yml", "--limit", "kin", inventory=lab.inventory, env=lab.env,
                       extra_vars=PURGE, check=True)
    assert dry.rc == 0, dry.output[-3000:]
    assert "0 of 80 rows older than 90 days removed (check mode: counted only)" in dry.flat
    assert audit_rows() == {10: 40, 89: 40, 91: 40, 200: 40}
    run = run_playbook(REPO / "playbooks" / "maintenance.yml", "--limit", "kin", inventory=lab.inventory, env=lab.env, extra_vars=PURGE)
    assert run.rc == 0, run.output[-3000:]
    assert "80 of 80 rows older than 90 days removed in 4 batches" in run.flat
    assert "the maintenance page goes up" in run.flat and "Page | write the maintenance page" in run.output
    assert audit_rows() == {10: 40, 89: 40}
    assert not (Path(lab.clinic("kin")["app_root"]) / "shared" / "maintenance.html").exists()
    again = run_playbook(REPO / "playbooks" / "maintenance.yml", "--limit", "kin", inventory=lab.inventory, env=lab.env, extra_vars=PURGE)
    assert again.rc == 0, again.output[-3000:]
    assert "nothing to do in the database; the maintenance page stays down" in again.flat, again.output[-3000:]
    assert "changed=0" in again.output.split("PLAY RECAP")[-1], again.output[-3000:]
    assert "Page | write the maintenance page" not in again.output
    assert audit_rows() == {10: 40, 89: 40}


def test_maintenance_page_is_off_after_a_run_that_failed_in_the_middle(lab, audit_rows):
    page = Path(lab.clinic("kin")["app_root"]) / "shared" / "maintenance.html"
    failing = dict(PURGE, maintenance_disk_max_percent=0)  # the disk check after the purge fails
    run = run_playbook(REPO / "playbooks" / "maintenance.yml", "--limit", "kin", inventory=lab.inventory, env=lab.env,
                       extra_vars=failing)
    assert run.rc != 0
    assert "Page | write the maintenance page" in run.output and "changed: [kin]" in run.output
    assert "% full (limit 0%)" in run.flat
    assert audit_rows() == {10: 40, 89: 40}
    assert not page.exists()


def test_maintenance_drops_kept_databases_past_their_age_and_check_mode_only_lists(lab):
    """Databases kept by rollbacks (db_backup restore_mode=replace) go after 14 days when the operator
    turns maintenance_drop_kept_databases on (by default none goes), younger ones stay.

    Made as the restore makes them (owned by the clinic's role, labelled), backdated by their label."""
    import datetime

    from ansible_collections.medops.runbook.plugins.module_utils import kept_database as kept

    pg = lab.info["postgres"]
    admin = dict(host=pg["host"], port=pg["port"], user=pg["superuser"], dbname="postgres", password=lab.secret(pg["password_file"]))

    def sql(statement, params=None):
        with contextlib.closing(psycopg2.connect(**admin)) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else None

    def kept_now():
        return sorted(row[0] for row in sql("SELECT datname FROM pg_database WHERE datname LIKE 'clinic_kin_kept_%'"))

    def present():
        """This test's own kept databases (a rollback in another test may have kept a young one of its own)."""
        return [name for name in kept_now() if name in made]

    now = datetime.datetime.now(datetime.timezone.utc)
    made = {"clinic_kin_kept_20260101000000": 30, "clinic_kin_kept_20260102000000": 15, "clinic_kin_kept_20260103000000": 2}
    for name, days in made.items():
        sql(f'CREATE DATABASE "{name}" OWNER clinic_kin')
        stamp = (now - datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        sql(f'COMMENT ON DATABASE "{name}" IS %s', (kept.label("clinic_kin", stamp, "kin", "kin.dump"),))
    others = [name for name in kept_now() if name not in made]  # all younger than a day: never dropped
    opt_in = {"maintenance_drop_kept_databases": True}
    try:
        default = run_playbook(REPO / "playbooks" / "maintenance.yml", "--limit", "kin", inventory=lab.inventory, env=lab.env)
        assert default.rc == 0, default.output[-3000:]
        assert present() == sorted(made), "by default no kept database is dropped, however old"
        dry = run_playbook(REPO / "playbooks" / "maintenance.yml", "--limit", "kin", check=True, inventory=lab.inventory, env=lab.env,
                           extra_vars=opt_in)
        assert dry.rc == 0, dry.output[-3000:]
        assert present() == sorted(made), "check mode drops nothing"
        assert "kept database clinic_kin_kept_20260101000000 (30.0 days old" in dry.flat and "would be dropped (check mode)" in dry.flat
        run = run_playbook(REPO / "playbooks" / "maintenance.yml", "--limit", "kin", inventory=lab.inventory, env=lab.env,
                           extra_vars=opt_in)
        assert run.rc == 0, run.output[-3000:]
        assert present() == ["clinic_kin_kept_20260103000000"], "only the kept databases older than 14 days go"
        assert "clinic_kin_kept_20260103000000 (2.0 days old" in run.flat and "kept (younger than 14" in run.flat
        assert [name for name in kept_now() if name not in made] == others
    finally:
        for name in made:
            sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
