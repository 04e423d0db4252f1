"""backup_postgresql: compression flags per pg_dump version, connection strings, argv hygiene."""

from __future__ import annotations

import re

import pytest

from ansible_collections.medops.runbook.plugins.module_utils import backup_manifest as bm
from ansible_collections.medops.runbook.plugins.module_utils import backup_postgresql as bpg


@pytest.mark.parametrize("version,compression,level,expected", [
    ((15, 8), "gzip", None, []),
    ((15, 8), "gzip", 5, ["--compress=5"]),
    ((15, 8), "none", None, ["--compress=0"]),
    ((16, 2), "zstd", 7, ["--compress=zstd:7"]),
    ((16, 2), "lz4", None, ["--compress=lz4"]),
    ((17, 0), "gzip", 9, ["--compress=gzip:9"]),
    ((17, 0), "none", None, ["--compress=none"]),
])
def test_compression_args(version, compression, level, expected):
    assert bpg.compression_args(version, compression, level) == expected


@pytest.mark.parametrize("version,compression,level,message", [
    ((15, 8), "zstd", None, "compression=zstd needs pg_dump 16 or newer"),
    ((15, 8), "lz4", 3, "compression=lz4 needs pg_dump 16 or newer"),
    ((16, 0), "zstd", 23, "out of range for zstd (1-22)"),
    ((16, 0), "gzip", 10, "out of range for gzip (1-9)"),
])
def test_compression_args_refuses_clearly(version, compression, level, message):
    with pytest.raises(bm.BackupError, match=re.escape(message)):
        bpg.compression_args(version, compression, level)


def test_parse_version():
    assert bpg.parse_version("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)") == (15, 20)
    assert bpg.parse_version("pg_restore (PostgreSQL) 17beta1") == (17, 0)
    with pytest.raises(bm.BackupError):
        bpg.parse_version("no digits")


def test_conninfo_quotes_every_value():
    text = bpg.conninfo({"dbname": "a' host=evil \\", "host": "h"})
    assert text == "dbname='a\\' host=evil \\\\' host='h'"


def params(**extra):
    base = {"uri": None, "login_host": None, "login_port": None, "login_user": None, "login_password": None,
            "database": None, "format": "custom", "jobs": 1, "compression": "gzip", "compression_level": None,
            "dump_extra_args": [], "bin_dir": None, "clinic": "kin"}
    base.update(extra)
    return base


def test_connection_settings_take_the_password_out_of_the_uri():
    keywords, password = bpg.connection_settings(params(uri="postgresql://app:s%40cret@db:5433/clinic?sslmode=require",
                                                        database="other"))
    assert password == "s@cret"
    assert keywords == {"user": "app", "host": "db", "port": "5433", "dbname": "other", "sslmode": "require"}
    keywords, password = bpg.connection_settings(params(login_host="h", login_port=1, login_password="pw", database="d"))
    assert keywords == {"host": "h", "port": "1", "dbname": "d"} and password == "pw"


def test_dump_argv_has_no_password_and_goes_to_a_file():
    engine = bpg.PostgresqlEngine(params(uri="postgresql://app:topsecret@db/clinic", format="directory", jobs=3,
                                         dump_extra_args=["--exclude-table=audit_*"]))
    argv = engine.dump_argv("/b/x.dir", (15, 4), snapshot="00000003-1")
    joined = " ".join(argv)
    assert "topsecret" not in joined
    assert argv[1:3] == ["--dbname", "dbname='clinic' host='db' user='app'"]
    assert ["--snapshot", "00000003-1"] == argv[argv.index("--snapshot"):argv.index("--snapshot") + 2]
    assert "--jobs" in argv and argv[-3:] == ["--file", "/b/x.dir", "--exclude-table=audit_*"]
    assert engine.env()["PGPASSWORD"] == "topsecret"


@pytest.mark.parametrize("args,message", [
    (dict(jobs=2), "jobs=2 needs format=directory"),
    (dict(dump_extra_args=["-f", "/tmp/x"]), "must not set -f"),
    (dict(dump_extra_args=["--snapshot=1"]), "must not set --snapshot"),
    (dict(dump_extra_args=["-Fp"]), "must not set -Fp"),
    (dict(database=None), "database is required"),
])
def test_validate_dump(args, message):
    engine = bpg.PostgresqlEngine(params(**dict({"database": "d"}, **args)))
    with pytest.raises(bm.BackupError, match=message):
        engine.validate_dump()


def test_data_entries_reads_pg_restore_list():
    toc = (";\n; Archive created at 2026-11-23\n"
           "215; 1259 16390 TABLE public patients postgres\n"
           "3360; 0 16390 TABLE DATA public patients postgres\n"
           "3361; 0 16399 TABLE DATA billing invoices postgres\n")
    tables = {"public.patients": ["public", "patients"], "billing.invoices": ["billing", "invoices"],
              "public.audit": ["public", "audit"]}
    assert bpg.PostgresqlEngine.data_entries(toc, tables) == {"public.patients", "billing.invoices"}


def test_restore_argv_single_transaction_or_jobs():
    engine = bpg.PostgresqlEngine(params(database="d", jobs=4))
    argv = engine.restore_argv("/b/x.dump", "target", True, False, True)
    assert "--clean" in argv and "--if-exists" in argv and "--jobs" in argv and "--no-owner" in argv
    argv = bpg.PostgresqlEngine(params(database="d")).restore_argv("/b/x.dump", "t", True, True, False)
    assert "--single-transaction" in argv and "--jobs" not in argv and argv[-1] == "/b/x.dump"


def test_find_tool_prefers_bin_dir(tmp_path):
    tool = tmp_path / "pg_dump"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert bpg.find_tool("pg_dump", str(tmp_path)) == str(tool)
    with pytest.raises(bm.BackupError, match="pg_restore not found in bin_dir"):
        bpg.find_tool("pg_restore", str(tmp_path))
