"""backup_mongodb: secrets in a 0600 config file, argv construction, parsing the tools' reports."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.medops.runbook.plugins.module_utils import backup_manifest as bm
from ansible_collections.medops.runbook.plugins.module_utils import backup_mongodb as bmg


def fake_tools(tmp_path):
    for name in ("mongodump", "mongorestore"):
        path = tmp_path / name
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    return str(tmp_path)


def engine(tmp_path, **extra):
    params = {"bin_dir": fake_tools(tmp_path), "database": "clinic", "login_host": "db", "login_port": 27018,
              "login_user": "backup", "login_password": "pa\"ss: 'x'", "uri": None, "dump_extra_args": [], "clinic": "kin"}
    params.update(extra)
    return bmg.MongodbEngine(params)


def test_config_file_is_private_and_holds_the_secrets(tmp_path):
    eng = engine(tmp_path, uri="mongodb://backup:urisecret@db/clinic")
    path = eng.config_file()
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        text = open(path).read()
        assert text == 'password: "pa\\"ss: \'x\'"\nuri: "mongodb://backup:urisecret@db/clinic"\n'
    finally:
        eng.cleanup()
    assert not os.path.exists(path)


def test_dump_argv_keeps_secrets_out(tmp_path):
    eng = engine(tmp_path)
    argv = eng.dump_argv("/tmp/cfg.yaml")
    assert argv[0].endswith("/mongodump")
    assert argv[1:] == ["--config=/tmp/cfg.yaml", "--host=db", "--port=27018", "--username=backup",
                        "--authenticationDatabase=admin", "--db=clinic", "--archive", "--gzip"]
    assert "pa" not in " ".join(argv[1:]).replace("--port", "")
    uri_argv = engine(tmp_path, uri="mongodb://u:secret@h/clinic", login_user=None).dump_argv("/c")
    assert not any("secret" in a for a in uri_argv[1:]) and not any(a.startswith("--host") for a in uri_argv)


def test_restore_argv_renames_into_the_target(tmp_path):
    eng = engine(tmp_path)
    argv = eng.restore_argv("/c", "/b/x.archive.gz", "scratch", drop=True)
    assert "--nsFrom=clinic.*" in argv and "--nsTo=scratch.*" in argv and "--drop" in argv
    assert "--archive=/b/x.archive.gz" in argv and "--gzip" in argv
    assert "--dryRun" in eng.restore_argv("/c", "/b/x.archive.gz", None, dry_run=True)


def test_parse_tool_reports():
    dumped = ("2026-11-23T09:00:00.000+0000\twriting clinic.patients to archive on stdout\n"
              "2026-11-23T09:00:01.000+0000\tdone dumping clinic.patients (1200 documents)\n"
              "2026-11-23T09:00:01.000+0000\tdone dumping clinic.visits.archive (1 document)\n")
    assert bmg.parse_dumped(dumped) == {"patients": 1200, "visits.archive": 1}
    restored = "2026-11-23T09:00:02\tfinished restoring scratch.patients (1200 documents, 0 failures)\n"
    assert bmg.parse_restored(restored) == {"patients": (1200, 0)}


def test_missing_tools_fail_clearly(tmp_path):
    eng = bmg.MongodbEngine({"bin_dir": str(tmp_path), "database": "x"})
    with pytest.raises(bm.BackupError, match="mongodump not found in bin_dir"):
        eng.dump_argv("/c")
    with pytest.raises(bm.BackupError, match="database is required"):
        bmg.MongodbEngine({"bin_dir": fake_tools(tmp_path), "database": None}).dump_argv("/c")
