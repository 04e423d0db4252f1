"""db_backup engine=mongodb against a live mongod: none can be installed on these machines, so
these tests skip with the reason unless mongod and the database tools are on PATH. The command
construction, config-file secrets and report parsing are covered by the unit tests."""

from __future__ import annotations

import shutil

import pytest

from harness.ansible import run_module

MISSING = [tool for tool in ("mongod", "mongodump", "mongorestore") if not shutil.which(tool)]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"no live MongoDB here: {', '.join(MISSING)} not on PATH "
                                                      "(not packaged in the registries these machines reach)")


def test_mongodump_writes_a_verified_archive(tmp_path):
    from medops_lab.servers import ManagedProcess, free_port

    port = free_port()
    data = tmp_path / "data"
    data.mkdir()
    argv = [shutil.which("mongod"), "--dbpath", str(data), "--port", str(port), "--bind_ip", "127.0.0.1"]
    server = ManagedProcess("mongod", tmp_path, argv, port=port).start(60)
    try:
        args = {"engine": "mongodb", "dest": str(tmp_path / "b"), "login_port": port, "database": "clinic"}
        dumped = run_module("db_backup", args)
        assert dumped.get("failed") is not True, dumped.get("msg")
        verified = run_module("db_backup", dict(args, state="verified", backup=dumped["backup"]))
        assert verified.get("failed") is not True, verified.get("msg")
    finally:
        server.stop()
