"""playbooks/deploy.yml and playbooks/rollback.yml on the lab: three real clinics, real PostgreSQL,
Redis and BullMQ workers.

The tests share the session lab and run in file order; each one states the versions it starts
from (``ensure_live``) instead of trusting the previous test.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import psycopg2
import pytest

from harness.ansible import REPO, ansible_env, run_playbook
from harness.http import Reply
from harness.jobs import JobProducer, wait_until_processed

pytestmark = pytest.mark.lab
CODES = ["kin", "lub", "gom"]
DEPLOY = REPO / "playbooks" / "deploy.yml"
ROLLBACK = REPO / "playbooks" / "rollback.yml"


def deploy(lab, version, *args, **kwargs):
    return run_playbook(DEPLOY, *args, inventory=lab.inventory, env=lab.env, extra_vars={"deploy_version": version}, **kwargs)


def versions(lab):
    return {code: lab.version(code) for code in CODES}


def served_versions(lab):
    return {code: lab.get(code, "/api/version")[1].get("version") for code in CODES}


def record(lab, code):
    path = Path(lab.clinic(code)["app_root"]) / "deployments.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def backups(lab, code):
    directory = Path(lab.clinic(code)["backup_dir"])
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def table_checksums(lab, code):
    """Every table's columns and content, hashed: equal before and after means the data is back."""
    with contextlib.closing(psycopg2.connect(**lab.db_params(code))) as conn, conn.cursor() as cur:
        cur.execute("SELECT table_name, string_agg(column_name || ':' || data_type, ',' ORDER BY ordinal_position)"
                    " FROM information_schema.columns WHERE table_schema = 'public' GROUP BY table_name")
        tables = dict(cur.fetchall())
        sums = {}
        for table, columns in sorted(tables.items()):
            cur.execute(f'SELECT md5(coalesce(string_agg(t::text, \'|\' ORDER BY t::text), \'\')) FROM "{table}" t')
            sums[table] = (columns, cur.fetchone()[0])
        return sums


def queue_paused(lab, code):
    import redis

    client = redis.Redis(**lab.redis_connection())
    return client.hget(f"bull:clinic-{code}:meta", "paused") is not None


def admin_connection(lab, dbname="postgres"):
    pg = lab.info["postgres"]
    conn = psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["superuser"], dbname=dbname,
                            password=lab.secret(pg["password_file"]))
    conn.autocommit = True
    return conn


def kept_databases(lab, code):
    with contextlib.closing(admin_connection(lab)) as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1", (f"clinic_{code}_kept_%",))
        return [row[0] for row in cur.fetchall()]


def drop_kept_databases(lab, code):
    """A test that made kept databases removes them (the maintenance role would, after 14 days)."""
    with contextlib.closing(admin_connection(lab)) as conn, conn.cursor() as cur:
        for name in kept_databases(lab, code):
            cur.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def ensure_live(lab, version):
    if set(versions(lab).values()) != {version}:
        run = deploy(lab, version)
        assert run.rc == 0, run.output[-4000:]
    assert set(versions(lab).values()) == {version}


class Background(threading.Thread):
    """A thread that runs while its ``with`` block does; ``run`` stops once ``done`` is set."""

    def __init__(self):
        super().__init__(daemon=True)
        self.done = threading.Event()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.join()


class PageWatcher(Background):
    """Notes every moment (UTC) each clinic's maintenance page file was seen, every 20 ms."""

    def __init__(self, lab):
        super().__init__()
        self.pages = {code: Path(lab.clinic(code)["app_root"]) / "shared" / "maintenance.html" for code in CODES}
        self.seen = {code: [] for code in CODES}

    def run(self):
        while not self.done.wait(0.02):
            for code, page in self.pages.items():
                if page.exists():
                    self.seen[code].append(datetime.datetime.now(datetime.timezone.utc))


def test_deploy_1_1_0_to_every_clinic_loses_no_job(lab):
    ensure_live(lab, "1.0.0")
    before = {code: backups(lab, code) for code in CODES}
    # With the write freeze: the maintenance page is up from before the backup until 1.1.0 is verified.
    with JobProducer(lab, CODES) as producer, PageWatcher(lab) as pages:
        run = deploy(lab, "1.1.0", "-e", "deploy_maintenance_page=true")
    assert run.rc == 0, run.output[-4000:]
    assert versions(lab) == {code: "1.1.0" for code in CODES}
    assert served_versions(lab) == {code: "1.1.0" for code in CODES}
    for code in CODES:
        new = sorted(set(backups(lab, code)) - set(before[code]))
        assert new, f"{code}: no backup written by the deploy"
        last = record(lab, code)[-1]
        assert last["phase"] == "finished" and last["outcome"] == "success" and last["version_to"] == "1.1.0"
        # Queues drained, THEN the backup (seed 002), so the backup holds every job's writes.
        steps = [s["step"] for s in last["steps"]]
        assert steps[:4] == ["record_start", "drain", "maintenance_on", "backup"], steps
        assert steps[steps.index("verify") + 1:steps.index("verify") + 3] == ["maintenance_off", "smoke"], steps
        manifest = json.loads(Path(last["backup"] + ".manifest.json").read_text())
        assert pages.seen[code], f"{code}: the maintenance page never showed"
        assert pages.seen[code][0] < datetime.datetime.fromisoformat(manifest["started_at"].replace("Z", "+00:00"))
        assert not pages.pages[code].exists()
        assert not queue_paused(lab, code)
        assert not (Path(lab.clinic(code)["app_root"]) / "deploy.lock").exists()
        ids = producer.ids[code]
        assert len(ids) > 10, "the producer should have enqueued jobs during the deploy"
        counts = wait_until_processed(lab, code, ids)
        twice = {job: n for job, n in counts.items() if job in set(ids) and n != 1}
        assert not twice, f"{code}: jobs processed more than once: {twice}"
    assert "kin: 1.0.0 -> 1.1.0 | success" in run.flat


def test_deploying_the_live_version_changes_nothing(lab):
    ensure_live(lab, "1.1.0")
    entries = {code: len(record(lab, code)) for code in CODES}
    run = deploy(lab, "1.1.0")
    assert run.rc == 0, run.output[-3000:]
    assert "changed=0" in run.flat and "changed=1" not in run.output, run.output[-3000:]
    assert {code: len(record(lab, code)) for code in CODES} == entries
    assert "already live; nothing to do" in run.flat


def test_check_mode_changes_nothing(lab):
    ensure_live(lab, "1.1.0")
    snapshot = {code: (record(lab, code), backups(lab, code), sorted(os.listdir(Path(lab.clinic(code)["app_root"]) / "releases")),
                       table_checksums(lab, code)) for code in CODES}
    run = deploy(lab, "1.2.0-badmigration", check=True)
    assert run.rc == 0, run.output[-4000:]
    assert "Traceback" not in run.output
    for code in CODES:
        assert (record(lab, code), backups(lab, code), sorted(os.listdir(Path(lab.clinic(code)["app_root"]) / "releases")),
                table_checksums(lab, code)) == snapshot[code]
        assert lab.version(code) == "1.1.0" and not queue_paused(lab, code)


def test_bad_release_stops_at_the_canary_and_rolls_it_back(lab):
    ensure_live(lab, "1.1.0")
    untouched = {code: (record(lab, code), backups(lab, code)) for code in ("lub", "gom")}
    run = deploy(lab, "1.2.0-bad")
    assert run.rc != 0
    assert versions(lab) == {code: "1.1.0" for code in CODES}
    assert served_versions(lab) == {code: "1.1.0" for code in CODES}
    assert lab.get("kin", "/health/ready")[0] == 200
    assert "kin: deploy of 1.2.0-bad failed at step 'verify'" in run.flat, run.output[-4000:]
    assert "Rolled back to 1.1.0" in run.flat
    for code in ("lub", "gom"):
        assert (record(lab, code), backups(lab, code)) == untouched[code], f"{code} was touched"
    last = record(lab, "kin")[-1]
    assert last["outcome"] == "rolled_back" and last["failed_step"] == "verify"
    assert last["rollback_smoke"] == "passed", "the inventory's smoke tests ran on the release rolled back to"
    assert (Path(lab.clinic("kin")["app_root"]) / "releases" / "1.2.0-bad" / ".medops-bad").exists()
    assert not queue_paused(lab, "kin")
    assert not (Path(lab.clinic("kin")["app_root"]) / "deploy.lock").exists()
    assert not (Path(lab.clinic("kin")["app_root"]) / "shared" / "maintenance.html").exists()


def test_failed_migration_is_rolled_back_with_the_database(lab):
    ensure_live(lab, "1.1.0")
    before = table_checksums(lab, "kin")
    run = deploy(lab, "1.2.0-badmigration", "--limit", "kin")
    assert run.rc != 0
    assert "kin: deploy of 1.2.0-badmigration failed at step 'migrate'" in run.flat, run.output[-4000:]
    assert "with the database restored from" in run.flat
    assert table_checksums(lab, "kin") == before
    # The replaced (half-migrated) database is kept, not dropped, and named in the record.
    kept = record(lab, "kin")[-1]["database_kept"]
    assert kept.startswith("clinic_kin_kept_") and f"kept as {kept}" in run.flat
    drop_kept_databases(lab, "kin")
    assert lab.version("kin") == "1.1.0" and lab.get("kin", "/health/ready")[0] == 200
    assert not queue_paused(lab, "kin")


class PatientWriter(Background):
    """Web traffic that goes on during a deploy: one patient row committed every 50 ms, each named by
    its sequence number; records what it saw committed (in order) and what it cannot be sure of."""

    def __init__(self, params, tag):
        super().__init__()
        self.params, self.tag = params, tag
        self.committed, self.uncertain, self.errors = [], [], 0

    def run(self):
        conn, number = None, 0
        while not self.done.wait(0.05):
            token = f"{self.tag}-{number:06d}"
            number += 1
            try:
                if conn is None:
                    conn = psycopg2.connect(connect_timeout=5, **self.params)
                with conn.cursor() as cur:
                    cur.execute("INSERT INTO patients (full_name) VALUES (%s)", (token,))
                conn.commit()
                self.committed.append(token)
            except psycopg2.Error:
                # Connection closed by the restore's swap, or the database briefly closed: the
                # commit may or may not have happened.
                self.uncertain.append(token)
                self.errors += 1
                with contextlib.suppress(Exception):
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()


def writer_rows(lab, dbname, tag):
    with contextlib.closing(admin_connection(lab, dbname)) as conn, conn.cursor() as cur:
        cur.execute("SELECT full_name FROM patients WHERE full_name LIKE %s ORDER BY full_name", (tag + "-%",))
        return [row[0] for row in cur.fetchall()]


def test_failed_migration_loses_no_row_written_during_the_deploy(lab, http_service):
    """While the app keeps writing, a failed migration is rolled back: every committed row is in the
    live database or in the kept one, and the summary counts exactly the rows written after the backup."""
    ensure_live(lab, "1.1.0")
    # test_failed_migration_is_rolled_back_with_the_database marked the release bad; as an operator would, clear it.
    (Path(lab.clinic("kin")["app_root"]) / "releases" / "1.2.0-badmigration" / ".medops-bad").unlink(missing_ok=True)
    tag = f"writer-{os.getpid()}-{int(time.time())}"
    with contextlib.closing(psycopg2.connect(**lab.db_params("kin"))) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM patients")
        patients_before = cur.fetchone()[0]
    hook = http_service({"/hook": lambda request: Reply(204)})
    with PatientWriter(lab.db_params("kin"), tag) as writer:
        run = deploy(lab, "1.2.0-badmigration", "--limit", "kin", "-e", f"deploy_notify_webhook_url={hook.url('/hook')}")
        # A little traffic after the rollback too: it must land in the restored database.
        deadline = time.monotonic() + 60
        settled = len(writer.committed)
        while len(writer.committed) < settled + 5 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert run.rc != 0
    assert "kin: deploy of 1.2.0-badmigration failed at step 'migrate'" in run.flat, run.output[-4000:]
    # The run's finished entry (a `notified` entry follows it, since a webhook is configured).
    last = [entry for entry in record(lab, "kin") if entry.get("phase") == "finished"][-1]
    kept = last["database_kept"]
    try:
        assert kept.startswith("clinic_kin_kept_") and kept_databases(lab, "kin") == [kept]
        live, kept_rows = set(writer_rows(lab, "clinic_kin", tag)), writer_rows(lab, kept, tag)
        # Nothing lost: every row the writer saw committed is in the live or the kept database.
        lost = [token for token in writer.committed if token not in live and token not in kept_rows]
        assert not lost, f"{len(lost)} committed rows are in neither database: {lost[:5]}"
        # The backup's snapshot cut the writer's rows in two: the first ones (in the backup, so in the
        # restored live database too) and the rest, written after the backup, in the kept one only.
        manifest = json.loads(Path(last["backup"] + ".manifest.json").read_text())
        in_backup = manifest["tables"]["public.patients"] - patients_before
        assert 0 < in_backup <= len(kept_rows), (in_backup, len(kept_rows))
        assert all(token in live for token in kept_rows[:in_backup])
        assert not any(token in live for token in kept_rows[in_backup:])
        after_backup = len(kept_rows) - in_backup
        assert after_backup > 0, "the writer should have committed rows between the backup and the rollback"
        # The writer's own view agrees (rows it could not confirm may have committed or not).
        seen_after = [t for t in writer.committed if t in set(kept_rows[in_backup:])]
        assert len(seen_after) <= after_backup <= len(seen_after) + len(writer.uncertain)
        # The on-call is told: record, summary, failure message.
        assert last["rows_since_backup"] == {"public.patients": after_backup}, last["rows_since_backup"]
        assert f"kept as {kept}: {after_backup} rows written after the backup are there and NOT in the live database" in run.flat
        # The generic webhook's result event for kin carries the summary's fields in `details`.
        events = [json.loads(request.body) for request in hook.requests]
        result = next(e for e in events if e.get("event") == "result" and e.get("clinic") == "kin")
        assert (result["outcome"], result["details"]["database_kept"]) == ("rolled_back", kept), result
        assert result["details"]["rows_since_backup"] == {"public.patients": after_backup}, result
        # Traffic after the rollback went to the restored database.
        assert [t for t in writer.committed[-5:] if t in live] == writer.committed[-5:]
        print(f"writer committed {len(writer.committed)} rows ({len(writer.uncertain)} unconfirmed); "
              f"{in_backup} in the backup, {after_backup} after it, kept in {kept}")
    finally:
        drop_kept_databases(lab, "kin")
        with contextlib.closing(psycopg2.connect(**lab.db_params("kin"))) as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM patients WHERE full_name LIKE %s", (tag + "-%",))
            conn.commit()
    assert lab.version("kin") == "1.1.0" and lab.get("kin", "/health/ready")[0] == 200
    assert not queue_paused(lab, "kin")


def test_second_deploy_stops_at_the_lock_and_names_the_holder(lab):
    ensure_live(lab, "1.1.0")
    lock = Path(lab.clinic("lub")["app_root"]) / "deploy.lock"
    first = subprocess.Popen(
        [str(Path(os.sys.executable).parent / "ansible-playbook"), str(ROLLBACK), "-i", str(lab.inventory),
         "--limit", "lub", "-e", "rollback_version=1.0.0", "-e", "rollback_run_id=first-run", "-e", "rollback_operator=alice"],
        cwd=REPO, env=ansible_env(lab.env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not lock.exists():
            assert first.poll() is None, first.stdout.read()
            assert time.monotonic() < deadline, "the first run never took the lock"
            time.sleep(0.05)
        # Neither the version being left nor the one being restored, so the second run needs the lock.
        second = deploy(lab, "1.2.0-bad", "--limit", "lub", "-e", "deploy_operator=bob")
    finally:
        output = first.communicate(timeout=300)[0]
    assert first.returncode == 0, output[-3000:]
    assert second.rc != 0
    assert "held by alice (run first-run)" in second.flat, second.output[-3000:]
    assert lab.version("lub") == "1.0.0"
    run = deploy(lab, "1.1.0", "--limit", "lub")
    assert run.rc == 0, run.output[-3000:]


def test_rollback_goes_to_the_previous_good_release(lab):
    ensure_live(lab, "1.1.0")
    run = run_playbook(ROLLBACK, "--limit", "gom", inventory=lab.inventory, env=lab.env)
    assert run.rc == 0, run.output[-4000:]
    assert lab.version("gom") == "1.0.0" and lab.get("gom", "/api/version")[1]["version"] == "1.0.0"
    assert record(lab, "gom")[-1]["kind"] == "rollback" and record(lab, "gom")[-1]["outcome"] == "success"
    assert {lab.version(code) for code in ("kin", "lub")} == {"1.1.0"}
    assert re.search(r"gom: 1\.1\.0 -> 1\.0\.0 \| success \| database not restored \| [0-9.]+ s", run.flat), run.flat[-2000:]

    # The same rollback again (a retried job): the target is live and healthy, so nothing changes.
    pids, entries = sorted(lab.pids()), len(record(lab, "gom"))
    again = run_playbook(ROLLBACK, "--limit", "gom", inventory=lab.inventory, env=lab.env,
                         extra_vars={"rollback_version": "1.0.0"})
    assert again.rc == 0, again.output[-4000:]
    assert "1.0.0 is already live and healthy; nothing to do" in again.output
    assert "changed=0" in again.output.split("PLAY RECAP")[-1]
    assert sorted(lab.pids()) == pids, "no service was restarted"
    assert len(record(lab, "gom")) == entries and lab.version("gom") == "1.0.0"
    assert "gom: 1.0.0 -> 1.0.0 | unchanged | database not restored |" in again.flat
    assert deploy(lab, "1.1.0", "--limit", "gom").rc == 0


def test_rollback_with_the_database_keeps_the_one_it_replaces(lab):
    """rollback.yml with rollback_restore_db: the deploy's backup replaces the database, and the replaced
    one, with the rows written since, is kept, named in the record and in the output."""
    ensure_live(lab, "1.1.0")
    deployed = [e for e in record(lab, "lub") if e.get("version_to") == "1.1.0" and e.get("outcome") == "success"
                and e.get("backup")][-1]
    tag = f"rollback-{os.getpid()}-{int(time.time())}"
    with contextlib.closing(psycopg2.connect(**lab.db_params("lub"))) as conn, conn.cursor() as cur:
        for index in range(3):
            cur.execute("INSERT INTO patients (full_name) VALUES (%s)", (f"{tag}-{index}",))
        conn.commit()
    run = run_playbook(ROLLBACK, "--limit", "lub", inventory=lab.inventory, env=lab.env,
                       extra_vars={"rollback_restore_db": True, "rollback_backup": deployed["backup"]})
    try:
        assert run.rc == 0, run.output[-4000:]
        entry = record(lab, "lub")[-1]
        kept = entry["database_kept"]
        assert (entry["kind"], entry["outcome"]) == ("rollback", "success") and kept_databases(lab, "lub") == [kept]
        assert writer_rows(lab, kept, tag) == [f"{tag}-{index}" for index in range(3)]
        assert writer_rows(lab, "clinic_lub", tag) == [], "the live database is the backup's"
        assert entry["rows_since_backup"].get("public.patients", 0) >= 3, entry["rows_since_backup"]
        assert f"replaced is kept as {kept}" in run.flat
        assert (f"lub: 1.1.0 -> 1.0.0 | success | database restored from {Path(deployed['backup']).name}, "
                f"the replaced one kept as {kept} |") in run.flat
        assert lab.version("lub") == "1.0.0"
    finally:
        drop_kept_databases(lab, "lub")
    assert deploy(lab, "1.1.0", "--limit", "lub").rc == 0


def test_a_short_secret_in_the_hosts_env_file_stops_the_deploy_in_preflight(lab):
    """Seed 004: JWT secrets of 32 characters or more. The clinic's env file on its host (owned by the
    clinic's account, read over SSH) holds a 20-character JWT_SECRET: the deploy stops before the lock,
    naming the key and never its value."""
    ensure_live(lab, "1.1.0")
    clinic = lab.clinic("kin")
    env_file = Path(clinic["app_root"]) / "shared" / "app.env"
    secret = "jwt-secret-20-chars!"
    env_file.write_text(f"NODE_ENV=production\nJWT_SECRET={secret}\nAPI_BASE_URL={clinic['base_url']}\n")
    owner = Path(clinic["app_root"]).stat()
    os.chown(env_file, owner.st_uid, owner.st_gid)
    env_file.chmod(0o600)
    checks = ["-e", f"deploy_env_file={env_file}", "-e", '{"deploy_env_required": ["NODE_ENV"], '
              '"deploy_env_secrets": ["JWT_SECRET"], "deploy_env_urls": ["API_BASE_URL"]}']
    try:
        run = deploy(lab, "1.0.0", "--limit", "kin", *checks)
        assert run.rc != 0
        assert "JWT_SECRET is 20 characters long, shorter than 32" in run.flat, run.output[-3000:]
        assert secret not in run.output
        assert lab.version("kin") == "1.1.0" and not (Path(clinic["app_root"]) / "deploy.lock").exists()
        env_file.write_text(f"NODE_ENV=production\nJWT_SECRET={'s' * 40}\nAPI_BASE_URL={clinic['base_url']}\n")
        run = deploy(lab, "1.1.0", "--limit", "kin", *checks, "--check")
        assert run.rc == 0, run.output[-3000:]
    finally:
        env_file.unlink()
