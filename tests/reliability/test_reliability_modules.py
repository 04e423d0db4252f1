"""Faults at module level, on the session's throwaway PostgreSQL and scripted HTTP services:
damaged backups, slow and flapping health endpoints, secrets in process command lines, file
modes, and names full of shell metacharacters."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

from harness.ansible import run_module
from harness.http import Reply
from harness.pgdata import cmdlines, drop, pg_args


def seed(pg_server, db, rows=3000):
    pg_server.execute(
        "CREATE TABLE patients (id serial PRIMARY KEY, name text, notes text);"
        f"INSERT INTO patients (name, notes) SELECT 'patient ' || g, md5(g::text) FROM generate_series(1, {rows}) g;"
        "CREATE TABLE visits (id serial PRIMARY KEY, patient_id int REFERENCES patients(id), reason text);"
        f"INSERT INTO visits (patient_id, reason) SELECT 1 + mod(g, {rows}), md5(g::text) FROM generate_series(1, {rows}) g;",
        dbname=db)


def test_damaged_backups_fail_verification_naming_the_check(pg_server, pg_database, tmp_path, scenario):
    scenario("backup flipped / truncated / manifest edited",
             "state=verified fails, the message names the failing check")
    seed(pg_server, pg_database)
    dumped = run_module("db_backup", pg_args(pg_server, pg_database, dest=str(tmp_path)))
    assert dumped.get("failed") is not True, dumped.get("msg")
    good = Path(dumped["backup"])
    original, manifest_file = good.read_bytes(), Path(str(good) + ".manifest.json")
    manifest = manifest_file.read_text()

    def damage_flip():
        data = bytearray(original)
        data[len(data) // 2] ^= 0x40
        good.write_bytes(bytes(data))

    def damage_truncate():
        good.write_bytes(original[: len(original) * 2 // 3])

    def damage_manifest():
        edited = json.loads(manifest)
        edited["tables"]["public.patients"] += 1
        edited["sha256"] = "0" * 64
        manifest_file.write_text(json.dumps(edited))

    expectations = {"flip": (damage_flip, "checksum: sha256"), "truncate": (damage_truncate, "checksum: size"),
                    "manifest": (damage_manifest, "checksum: sha256")}
    for name, (damage, wanted) in expectations.items():
        good.write_bytes(original)
        manifest_file.write_text(manifest)
        damage()
        result = run_module("db_backup", pg_args(pg_server, pg_database, state="verified", backup=str(good)))
        assert result["failed"] is True, name
        assert wanted in result["msg"], f"{name}: {result['msg']}"
        assert "Traceback" not in result["_run"].output
        scenario.observe(f"{name}: '{result['msg'][len(str(good)) + 1:][:60]}'")
    # An archive that is internally consistent with its manifest but unreadable: the readable check.
    good.write_bytes(b"PGDMP" + b"\0" * 200)
    edited = json.loads(manifest)
    import hashlib
    edited.update(sha256=hashlib.sha256(good.read_bytes()).hexdigest(), bytes=good.stat().st_size)
    manifest_file.write_text(json.dumps(edited))
    result = run_module("db_backup", pg_args(pg_server, pg_database, state="verified", backup=str(good)))
    assert result["failed"] is True and "archive_readable" in result["msg"], result["msg"]
    scenario.observe("garbage with a matching manifest: archive_readable")


def test_slow_health_endpoint_times_out(http_service, scenario):
    scenario("health endpoint slower than the per-request timeout", "health_wait fails, saying it timed out")

    def slow(_request):
        time.sleep(1.5)
        return Reply(200, {"status": "healthy"})

    service = http_service({"/health": slow})
    result = run_module("health_wait", {"url": service.url("/health"), "timeout": 0.5, "wait_timeout": 3, "interval": 0.2})
    assert result["failed"] is True
    assert result.get("healthy") is False
    assert "timed out" in result["msg"].lower() or "timeout" in result["msg"].lower(), result["msg"]
    assert result["attempts"] >= 2
    scenario.observe(f"failed after {result['attempts']} attempts: {result['msg'][:70]}")


def test_flapping_health_endpoint_never_passes(http_service, scenario):
    scenario("health endpoint flapping 200/503", "health_wait with success_threshold=3 never passes")
    answers = iter(range(10 ** 6))

    def flap(_request):
        if next(answers) % 2 == 0:
            return Reply(200, {"status": "healthy"})
        return Reply(503, {"status": "unhealthy"})

    service = http_service({"/health": flap})
    result = run_module("health_wait", {"url": service.url("/health"), "success_threshold": 3, "wait_timeout": 3,
                                        "interval": 0.1})
    assert result["failed"] is True and result.get("healthy") is False
    statuses = {r.path for r in service.requests}
    assert statuses == {"/health"} and len(service.requests) >= 6, len(service.requests)
    scenario.observe(f"not healthy after {result['attempts']} alternating answers")


def test_no_password_in_any_command_line_during_dump_and_restore(pg_server, pg_database, tmp_path, scenario):
    scenario("process command lines sampled during dump and restore",
             "no password in any argv; backup file 0600, backup dir 0700")
    seed(pg_server, pg_database, rows=20000)
    password, seen, leaks, stop = pg_server.password, set(), [], threading.Event()

    def sample():
        while not stop.is_set():
            for pid, line in cmdlines().items():
                if password in line:
                    leaks.append((pid, line))
                for tool in ("pg_dump", "pg_restore"):
                    if f"/{tool} " in line or line.startswith(f"{tool} "):
                        seen.add(tool)
            time.sleep(0.002)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    target = pg_database + "_restored"
    drop(pg_server, target)
    dest = tmp_path / "backups"
    try:
        dumped = run_module("db_backup", pg_args(pg_server, pg_database, dest=str(dest)))
        restored = run_module("db_backup", pg_args(pg_server, pg_database, state="restored", backup=dumped.get("backup", ""),
                                                   target_database=target))
    finally:
        stop.set()
        sampler.join()
        drop(pg_server, target)
    assert dumped.get("failed") is not True, dumped.get("msg")
    assert restored.get("failed") is not True, restored.get("msg")
    assert {"pg_dump", "pg_restore"} <= seen, f"the sampler must have seen both tools run (saw {seen})"
    assert not leaks, f"password in a command line: {leaks[0]}"
    backup = Path(dumped["backup"])
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(str(backup) + ".manifest.json").stat().st_mode) == 0o600
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    scenario.observe(f"saw {sorted(seen)} run, no password in argv; file 0600, dir 0700")


def test_database_and_path_with_shell_metacharacters_are_data(pg_server, tmp_path, scenario):
    canary = Path(f"/tmp/pwned-{os.getuid()}")
    scenario("database and backup path with shell metacharacters",
             f"dumped and verified as data; {canary} never created")
    canary.unlink(missing_ok=True)
    name = 'clinic"; touch /tmp/pwned-$(id -u); --'
    drop(pg_server, name)
    pg_server.create_database(name)
    try:
        pg_server.execute("CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 7)", dbname=name)
        dest = tmp_path / "b; touch pwned-$(id -u) `touch pwned`"
        dumped = run_module("db_backup", pg_args(pg_server, name, dest=str(dest), clinic=None))
        assert dumped.get("failed") is not True, dumped.get("msg")
        assert dumped["manifest"]["database"] == name and dumped["manifest"]["tables"] == {"public.t": 7}
        verified = run_module("db_backup", pg_args(pg_server, name, state="verified", backup=dumped["backup"],
                                                   restore_check=True))
        assert verified.get("failed") is not True, verified.get("msg")
    finally:
        drop(pg_server, name)
    assert not canary.exists(), "a shell ran part of a name"
    from harness.ansible import REPO
    assert not list(REPO.glob("pwned*")) and not list(tmp_path.glob("pwned*")), "a shell ran part of the path"
    assert sorted(p.name for p in tmp_path.iterdir()) == [dest.name]
    scenario.observe("dumped, verified (restore check) as data; no canary file")
