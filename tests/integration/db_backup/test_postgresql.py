"""db_backup against a real throwaway PostgreSQL (the session's ``pg_server``), through ansible-playbook."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg2
import pytest

from harness.ansible import REPO, ansible_env, run_module
from harness.pgdata import PARTIAL, cmdlines, content, drop, pg_args, seed


def databases(pg_server):
    return {row[0] for row in pg_server.execute("SELECT datname FROM pg_database")}


@pytest.mark.parametrize("fmt,jobs", [("custom", 1), ("directory", 2)])
def test_dump_verify_restore_round_trip_equals_source(pg_server, pg_database, tmp_path, fmt, jobs):
    seed(pg_server, pg_database)
    dest = tmp_path / "backups"
    dumped = run_module("db_backup", pg_args(pg_server, pg_database, dest, format=fmt, jobs=jobs))
    assert dumped.get("failed") is not True, dumped.get("msg")
    backup = Path(dumped["backup"])
    assert backup.parent == dest and backup.exists()
    assert oct(dest.stat().st_mode & 0o777) == "0o700"
    assert oct(backup.stat().st_mode & 0o777) == ("0o600" if fmt == "custom" else "0o700")
    manifest = json.loads(Path(str(backup) + ".manifest.json").read_text())
    assert manifest["tables"] == {"public.patients": 2000, "public.visits": 6000, "billing.invoices": 1000,
                                  "public.empty_table": 0}
    assert manifest["database"] == pg_database and manifest["clinic"] == "kin" and manifest["format"] == fmt
    assert manifest["server_version"].startswith("15.") and "pg_dump" in manifest["tool"]

    before = databases(pg_server)
    verified = run_module("db_backup", pg_args(pg_server, pg_database, state="verified", backup=str(backup),
                                               restore_check=True, jobs=jobs))
    assert verified.get("failed") is not True, verified.get("msg")
    assert verified["verified"] is True and [c["name"] for c in verified["checks"]] == ["checksum", "archive_readable", "restore"]
    assert verified["tables"]["public.visits"] == {"expected": 6000, "actual": 6000, "ok": True}
    assert databases(pg_server) == before, "the scratch database must be dropped"
    assert Path(str(backup) + ".verified.json").exists()

    target = pg_database + "_restored"
    drop(pg_server, target)
    try:
        restored = run_module("db_backup", pg_args(pg_server, pg_database, state="restored", dest=str(dest),
                                                   target_database=target, jobs=jobs))
        assert restored.get("failed") is not True, restored.get("msg")
        assert restored["changed"] and restored["created_database"] is True and restored["backup"] == str(backup)
        assert content(pg_server, target) == content(pg_server, pg_database)
        # Restoring again over the existing database (--clean --if-exists) gives the same data again.
        pg_server.execute("DELETE FROM visits WHERE mod(id, 2) = 0; DROP TABLE empty_table", dbname=target)
        again = run_module("db_backup", pg_args(pg_server, pg_database, state="restored", backup=str(backup),
                                                target_database=target))
        assert again.get("failed") is not True, again.get("msg")
        assert again["created_database"] is False
        assert content(pg_server, target) == content(pg_server, pg_database)
    finally:
        drop(pg_server, target)


def test_counts_match_the_dump_while_rows_are_inserted(pg_server, pg_database, tmp_path):
    seed(pg_server, pg_database, rows=60000)
    stop = threading.Event()
    inserted = []

    def writer():
        with contextlib.closing(psycopg2.connect(**pg_server.connection_params(pg_database))) as conn:
            conn.autocommit = True
            with conn.cursor() as cur:
                while not stop.is_set():
                    cur.execute("INSERT INTO visits (patient_id, at, reason) SELECT 1, now(), 'live' FROM generate_series(1, 50)")
                    cur.execute("INSERT INTO patients (name) VALUES ('walk-in')")
                    inserted.append(51)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        time.sleep(0.3)
        dumped = run_module("db_backup", pg_args(pg_server, pg_database, tmp_path))
    finally:
        stop.set()
        thread.join()
    assert dumped.get("failed") is not True, dumped.get("msg")
    counts = dumped["manifest"]["tables"]
    final = pg_server.execute("SELECT count(*) FROM visits", dbname=pg_database)[0][0]
    assert 180000 < counts["public.visits"] < final, "rows must have been inserted both before and after the snapshot"
    verified = run_module("db_backup", pg_args(pg_server, pg_database, state="verified", backup=dumped["backup"],
                                               restore_check=True))
    assert verified.get("failed") is not True, verified.get("msg")
    assert verified["tables"]["public.visits"]["actual"] == counts["public.visits"]
    assert verified["tables"]["public.patients"]["actual"] == counts["public.patients"]


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_damaged_backup_fails_verification_naming_the_check(pg_server, pg_database, tmp_path, damage):
    seed(pg_server, pg_database, rows=500)
    dumped = run_module("db_backup", pg_args(pg_server, pg_database, tmp_path))
    backup = Path(dumped["backup"])
    data = bytearray(backup.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
    else:
        data = data[: len(data) // 2]
    backup.write_bytes(bytes(data))
    result = run_module("db_backup", pg_args(pg_server, pg_database, state="verified", backup=str(backup), restore_check=True))
    assert result["failed"] is True
    assert "checksum" in result["msg"]
    assert ("sha256" in result["msg"]) if damage == "flip" else ("size" in result["msg"])
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["checksum"]["ok"] is False
    assert checks["restore"]["ok"] is False and "not attempted" in checks["restore"]["detail"]
    assert not Path(str(backup) + ".verified.json").exists()
    assert "Traceback" not in result["_run"].output
    # Restoring a damaged backup is refused before anything is touched.
    refused = run_module("db_backup", pg_args(pg_server, pg_database, state="restored", backup=str(backup)))
    assert refused["failed"] is True and "refusing to restore" in refused["msg"] and "checksum" in refused["msg"]
    assert pg_server.execute("SELECT count(*) FROM patients", dbname=pg_database)[0][0] == 500


def test_kill_9_mid_dump_leaves_no_final_file_and_next_run_cleans_up(pg_server, pg_database, tmp_path):
    seed(pg_server, pg_database, rows=200)
    dest = tmp_path / "backups"
    dest.mkdir()
    # A lock held elsewhere makes pg_dump wait, so the module is surely mid-dump when killed.
    locker = psycopg2.connect(**pg_server.connection_params(pg_database))
    try:
        with locker.cursor() as cur:
            cur.execute("LOCK TABLE visits IN ACCESS EXCLUSIVE MODE")
        proc = subprocess.Popen([sys.executable, "-c", RUN_IN_BACKGROUND, json.dumps(pg_args(pg_server, pg_database, dest))],
                                cwd=REPO, env=ansible_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            partial = wait_for(lambda: [p for p in dest.iterdir() if p.name.startswith(PARTIAL)], 60)
            module_pid = int(partial[0].name[len(PARTIAL):].split("-")[0])
            dump_pid = wait_for(lambda: child_named(module_pid, "pg_dump"), 30)
            os.kill(module_pid, signal.SIGKILL)
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        locker.rollback()
        locker.close()
    names = sorted(p.name for p in dest.iterdir())
    assert names and all(n.startswith(PARTIAL) for n in names), names
    wait_for(lambda: not Path(f"/proc/{dump_pid}").exists() or "pg_dump" not in Path(f"/proc/{dump_pid}/stat").read_text(), 30)

    result = run_module("db_backup", pg_args(pg_server, pg_database, dest))
    assert result.get("failed") is not True, result.get("msg")
    assert sorted(Path(item["path"]).name for item in result["leftovers_removed"]) == names
    left = sorted(p.name for p in dest.iterdir())
    assert left == sorted([Path(result["backup"]).name, Path(result["backup"]).name + ".manifest.json"])


RUN_IN_BACKGROUND = """
import json, sys
sys.path[:0] = ['tests', 'lab']
from harness.ansible import run_module
run_module('db_backup', json.loads(sys.argv[1]))
"""


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s")


def child_named(parent, name):
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = Path(f"/proc/{pid}/stat").read_text()
                fields = stat.rsplit(")", 1)[1].split()
                if int(fields[1]) == parent and name in stat.split("(", 1)[1].rsplit(")", 1)[0]:
                    return int(pid)
    return None


def test_database_named_with_shell_metacharacters(pg_server, tmp_path):
    canary = Path(f"/tmp/p{os.getpid() % 1000:03d}")  # fixed length: the name must fit in 63 bytes
    canary.unlink(missing_ok=True)
    name = f"x'\"; touch {canary};$(touch {canary})`touch {canary}`&|<>"
    assert len(name.encode()) <= 63, "PostgreSQL would truncate the name"
    drop(pg_server, name)
    pg_server.create_database(name)
    target = "restored; touch " + str(canary)
    drop(pg_server, target)
    try:
        pg_server.execute("CREATE TABLE \"we ird; table\" (id int); INSERT INTO \"we ird; table\" SELECT generate_series(1, 42)",
                          dbname=name)
        dest = tmp_path / "backups $(touch x)"
        dumped = run_module("db_backup", pg_args(pg_server, name, dest, clinic=None))
        assert dumped.get("failed") is not True, dumped.get("msg")
        assert dumped["manifest"]["database"] == name
        assert dumped["manifest"]["tables"] == {"public.we ird; table": 42}
        assert all(c.isalnum() or c in "_.-" for c in Path(dumped["backup"]).name)
        verified = run_module("db_backup", pg_args(pg_server, name, state="verified", backup=dumped["backup"], restore_check=True))
        assert verified.get("failed") is not True, verified.get("msg")
        restored = run_module("db_backup", pg_args(pg_server, name, state="restored", backup=dumped["backup"],
                                                   target_database=target))
        assert restored.get("failed") is not True, restored.get("msg")
        assert pg_server.execute('SELECT count(*) FROM "we ird; table"', dbname=target)[0][0] == 42
        assert not canary.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["backups $(touch x)"]
    finally:
        drop(pg_server, name, target)


def test_password_never_in_any_command_line_nor_in_verbose_output(pg_server, pg_database, tmp_path):
    seed(pg_server, pg_database, rows=300)
    password = pg_server.password
    seen, leaks, stop = set(), [], threading.Event()

    def sample():
        while not stop.is_set():
            for pid, line in cmdlines().items():
                if password in line:
                    leaks.append((pid, line))
                for tool in ("pg_dump", "pg_restore"):
                    if tool in line and "medops.db_backup" not in line:
                        seen.add(tool)

    # Holding a lock keeps pg_dump alive until the sampler has surely seen it.
    locker = psycopg2.connect(**pg_server.connection_params(pg_database))
    with locker.cursor() as cur:
        cur.execute("LOCK TABLE patients IN ACCESS EXCLUSIVE MODE")
    release = threading.Thread(target=lambda: (wait_for(lambda: "pg_dump" in seen, 60), locker.rollback()))
    sampler = threading.Thread(target=sample)
    sampler.start()
    release.start()
    try:
        dumped = run_module("db_backup", pg_args(pg_server, pg_database, tmp_path), "-vvv")
        verified = run_module("db_backup", pg_args(pg_server, pg_database, state="verified", backup=dumped.get("backup", ""),
                                                   restore_check=True), "-vvv")
    finally:
        stop.set()
        sampler.join()
        release.join()
        locker.close()
    assert dumped.get("failed") is not True, dumped.get("msg")
    assert verified.get("failed") is not True, verified.get("msg")
    assert {"pg_dump", "pg_restore"} <= seen, f"the sampler must have seen the tools run (saw {seen})"
    assert not leaks, f"password in a command line: {leaks[:1]}"
    for result in (dumped, verified):
        assert password not in result["_run"].output
        assert password not in json.dumps({k: v for k, v in result.items() if k != "_run"})
    assert "PGPASSWORD" not in dumped["_run"].output


def test_restore_of_another_clinic_or_database_is_refused(pg_server, pg_database, tmp_path):
    seed(pg_server, pg_database, rows=100)
    dumped = run_module("db_backup", pg_args(pg_server, pg_database, tmp_path, clinic="kin"))
    other = pg_database + "_lub"
    drop(pg_server, other)
    pg_server.create_database(other)
    pg_server.execute("CREATE TABLE lub_only (id int); INSERT INTO lub_only VALUES (1)", dbname=other)
    try:
        refused = run_module("db_backup", pg_args(pg_server, other, state="restored", backup=dumped["backup"], clinic="lub"))
        assert refused["failed"] is True and "clinic 'kin', not 'lub'" in refused["msg"]
        assert "database" in refused["msg"] and "force=true" in refused["msg"]
        same_clinic = run_module("db_backup", pg_args(pg_server, other, state="restored", backup=dumped["backup"]))
        assert same_clinic["failed"] is True and f"database {pg_database!r}, not {other!r}" in same_clinic["msg"]
        assert pg_server.execute("SELECT count(*) FROM lub_only", dbname=other) == [(1,)], "nothing may change"
        forced = run_module("db_backup", pg_args(pg_server, other, state="restored", backup=dumped["backup"], clinic="lub",
                                                 force=True))
        assert forced.get("failed") is not True, forced.get("msg")
        assert len(forced["identity_overridden"]) == 2
        assert pg_server.execute("SELECT count(*) FROM patients", dbname=other) == [(100,)]
    finally:
        drop(pg_server, other)


def test_check_mode_names_file_and_command_and_runs_nothing(pg_server, pg_database, tmp_path):
    dest = tmp_path / "backups"
    result = run_module("db_backup", pg_args(pg_server, pg_database, dest), check=True)
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is True and result["backup"].startswith(str(dest) + "/kin-postgresql-")
    command = " ".join(result["command"])
    assert "pg_dump" in command and f"dbname='{pg_database}'" in command and "--snapshot" in command
    assert pg_server.password not in command
    assert not dest.exists()
    restored = run_module("db_backup", pg_args(pg_server, pg_database, state="pruned", dest=str(dest), keep_last=1), check=True)
    assert restored.get("failed") is not True and restored["removed"] == []


def fake_backup(dest, name, age_days, verified=False, clinic="kin"):
    import datetime

    path = dest / name
    path.write_bytes(b"x" * 10)
    finished = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=age_days)
    manifest = {"engine": "postgresql", "clinic": clinic, "database": "clinic", "sha256": "0" * 64, "bytes": 10,
                "finished_at": finished.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    (dest / (name + ".manifest.json")).write_text(json.dumps(manifest))
    if verified:
        (dest / (name + ".verified.json")).write_text("{}")
    return path


def test_prune_keeps_last_young_and_newest_verified(pg_server, tmp_path):
    dest = tmp_path / "b"
    dest.mkdir()
    for name, age, verified in [("a.dump", 0.1, False), ("b.dump", 1, False), ("c.dump", 3, False), ("d.dump", 10, True),
                                ("e.dump", 20, True), ("f.dump", 30, False)]:
        fake_backup(dest, name, age, verified)
    fake_backup(dest, "lub.dump", 40, clinic="lub")
    args = {"state": "pruned", "dest": str(dest), "clinic": "kin", "database": "clinic", "keep_last": 2, "max_age_days": 2}
    planned = run_module("db_backup", args, check=True)
    assert planned["changed"] is True and len(list(dest.iterdir())) == 16
    pruned = run_module("db_backup", args)
    assert pruned.get("failed") is not True, pruned.get("msg")
    assert sorted(Path(r["path"]).name for r in pruned["removed"]) == ["c.dump", "e.dump", "f.dump"]
    assert sorted(Path(r["path"]).name for r in planned["removed"]) == ["c.dump", "e.dump", "f.dump"]
    kept = {Path(k["path"]).name: k["reason"] for k in pruned["kept"]}
    assert kept["d.dump"] == "newest verified backup"
    assert sorted(p.name for p in dest.iterdir() if not p.name.endswith(".json")) == ["a.dump", "b.dump", "d.dump", "lub.dump"]
    assert run_module("db_backup", args)["changed"] is False
