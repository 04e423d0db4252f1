"""Bad inputs: each fails with a clear message, no traceback, nothing written (one playbook run)."""

from __future__ import annotations

import json

from harness.ansible import run_module_cases


def cases(pg_server, tmp_path):
    base = {"login_host": "127.0.0.1", "login_port": pg_server.port, "login_user": "postgres", "database": "postgres"}
    dest = str(tmp_path / "dest")
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    return [
        (dict(base), "dest (the backup directory) is required with state=dumped"),
        (dict(base, dest=dest, engine="oracle"), "value of engine must be one of"),
        (dict(base, dest=dest, jobs=0), "jobs must be 1 or more"),
        (dict(base, dest=dest, jobs=2), "jobs=2 needs format=directory"),
        (dict(base, dest=dest, compression="zstd"), "compression=zstd needs pg_dump 16 or newer"),
        (dict(base, dest=dest, compression_level=42), "compression_level 42 is out of range for gzip (1-9)"),
        (dict(base, dest=dest, compression="none", compression_level=3), "compression_level makes no sense"),
        (dict(base, state="pruned", dest=dest), "state=pruned needs keep_last and/or max_age_days"),
        (dict(base, state="pruned", dest=dest, keep_last=0), "keep_last must be 1 or more"),
        (dict(base, state="verified"), "needs backup (a backup's path) or dest"),
        (dict(base, state="verified", backup=str(tmp_path / "nope.dump")), "has no manifest"),
        (dict(base, state="verified", dest=dest), "no complete backup in"),
        (dict(base, dest=str(not_a_dir)), "exists and is not a directory"),
        (dict(base, dest=dest, login_port=70000), "login_port must be between 1 and 65535"),
        (dict(base, dest=dest, login_password="wrong-password"), "cannot connect to PostgreSQL database 'postgres'"),
        (dict(base, dest=dest, database="no_such_db"), "database \"no_such_db\" does not exist"),
        (dict(base, dest=dest, uri="postgresql://127.0.0.1/db?bogus=1"), "uri is not a valid PostgreSQL connection URI"),
        (dict(base, dest=dest, dump_extra_args=["--file=/etc/passwd"]), "dump_extra_args must not set --file"),
        (dict(base, dest=dest, bin_dir=str(tmp_path)), "pg_dump not found in bin_dir"),
        (dict(base, dest=dest, engine="redis", state="restored"), "not supported for engine=redis"),
        (dict(base, dest=dest, engine="mongodb", format="directory"), "format=directory applies to engine=postgresql only"),
        (dict(base, dest=dest, scratch_database="postgres", state="verified"), "scratch_database must not be the source"),
    ]


def test_every_bad_input_fails_clearly_without_traceback(pg_server, tmp_path):
    table = cases(pg_server, tmp_path)
    results = run_module_cases("db_backup", [case[0] for case in table], shared={"login_password": pg_server.password})
    assert len(results) == len(table) >= 10
    for (args, expected), result in zip(table, results):
        assert result.get("failed") is True, (args, result.get("msg"))
        assert expected in result["msg"], (expected, result["msg"])
        assert "Traceback" not in result["msg"] and "Traceback" not in str(result.get("exception", "")), result.get("exception")
        assert pg_server.password not in json.dumps({k: v for k, v in result.items() if k != "_run"})
    run = results[0]["_run"]
    assert "Traceback" not in run.output and pg_server.password not in run.output
    assert not (tmp_path / "dest").exists()
