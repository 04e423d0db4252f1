"""db_backup engine=redis against a real throwaway Redis (``redis_server``): BGSAVE, copy, verify."""

from __future__ import annotations

import json
from pathlib import Path

from harness.ansible import run_module


def redis_args(redis_server, dest, **extra):
    args = {"engine": "redis", "dest": str(dest), "redis_host": "127.0.0.1", "redis_port": redis_server.port,
            "redis_password": redis_server.password, "clinic": "kin"}
    args.update(extra)
    return args


def test_snapshot_is_taken_copied_and_verified(redis_server, tmp_path):
    client = redis_server.client()
    for i in range(500):
        client.set(f"patient:{i}", f"p{i}")
    client.hset("session:abc", mapping={"user": "dr-who"})
    before = client.lastsave()
    dest = tmp_path / "redis-backups"
    dumped = run_module("db_backup", redis_args(redis_server, dest))
    assert dumped.get("failed") is not True, dumped.get("msg")
    assert client.lastsave() > before, "a fresh snapshot must have been taken"
    backup = Path(dumped["backup"])
    assert backup.name.startswith("kin-redis-") and backup.suffix == ".rdb"
    assert oct(backup.stat().st_mode & 0o777) == "0o600"
    data = backup.read_bytes()
    assert data.startswith(b"REDIS") and b"patient:42" in data and b"dr-who" in data
    manifest = json.loads(Path(str(backup) + ".manifest.json").read_text())
    assert manifest["engine"] == "redis" and manifest["bytes"] == len(data)
    assert manifest["source"] == str(redis_server.workdir / "dump.rdb")
    assert manifest["keyspace_before_save"]["db0"] == 501
    assert redis_server.password not in dumped["_run"].output

    verified = run_module("db_backup", redis_args(redis_server, dest, state="verified"))
    assert verified.get("failed") is not True, verified.get("msg")
    assert verified["backup"] == str(backup)
    checks = {c["name"]: c for c in verified["checks"]}
    assert checks["checksum"]["ok"] and checks["rdb_header"]["ok"]
    assert checks["redis_check_rdb"]["ok"] and not checks["redis_check_rdb"].get("skipped"), checks["redis_check_rdb"]

    data = bytearray(data)
    data[len(data) // 2] ^= 0xFF
    backup.write_bytes(bytes(data))
    broken = run_module("db_backup", redis_args(redis_server, dest, state="verified"))
    assert broken["failed"] is True and "checksum" in broken["msg"]


def test_restore_is_refused_clearly_and_wrong_password_fails_cleanly(redis_server, tmp_path):
    refused = run_module("db_backup", redis_args(redis_server, tmp_path, state="restored"))
    assert refused["failed"] is True and "not supported for engine=redis" in refused["msg"]
    wrong = run_module("db_backup", redis_args(redis_server, tmp_path, redis_password="not-the-password"))
    assert wrong["failed"] is True and "Redis" in wrong["msg"] and "Traceback" not in wrong["_run"].output
    assert [p.name for p in tmp_path.iterdir()] == []
