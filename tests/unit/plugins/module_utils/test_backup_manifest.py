"""backup_manifest: names, leftovers, listing, checksum check, counts, retention."""

from __future__ import annotations

import datetime
import json
import subprocess

import pytest

from ansible_collections.medops.runbook.plugins.module_utils import backup_manifest as bm

NOW = datetime.datetime(2026, 11, 23, 9, 0, tzinfo=datetime.timezone.utc)


def test_safe_label_keeps_no_shell_or_path_characters():
    assert bm.safe_label("kin") == "kin"
    assert bm.safe_label("a; rm -rf / $(x) `y` ../..") == "a_rm_-rf_x_y"
    assert bm.safe_label("") == "backup" and bm.safe_label("///") == "backup"
    assert "/" not in bm.backup_name("../../etc", "postgresql", NOW, ".dump")


def test_final_path_refuses_to_reuse_a_name(tmp_path):
    path = bm.final_path(str(tmp_path), "kin", "postgresql", NOW, ".dump")
    assert path.endswith("kin-postgresql-20261123T090000000000Z.dump")
    open(path, "w").close()
    with pytest.raises(bm.BackupError, match="refusing to overwrite"):
        bm.final_path(str(tmp_path), "kin", "postgresql", NOW, ".dump")


def dead_pid():
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_leftovers_of_dead_runs_are_found_live_ones_kept(tmp_path):
    dead = tmp_path / bm.partial_path("kin.dump", dead_pid())
    live = tmp_path / bm.partial_path("kin2.dump")  # our own pid: alive
    dead.write_bytes(b"half")
    live.write_bytes(b"half")
    (tmp_path / "kin.dump").write_bytes(b"done")
    temp_manifest = tmp_path / ".kin.dump.manifest.json.k3j2h1.tmp"  # what fileutils.atomic_write leaves on a crash
    temp_manifest.write_bytes(b"{")
    found = bm.find_leftovers(str(tmp_path))
    assert found == [str(temp_manifest), str(dead)] or found == [str(dead), str(temp_manifest)]
    assert {"path": str(dead), "bytes": 4} in bm.clean_leftovers(str(tmp_path), check_mode=True)
    assert dead.exists()
    bm.clean_leftovers(str(tmp_path), check_mode=False)
    assert not dead.exists() and not temp_manifest.exists() and live.exists()


def write_backup(tmp_path, name, finished, engine="postgresql", clinic="kin", database="db", data=b"abc"):
    path = tmp_path / name
    path.write_bytes(data)
    import hashlib
    manifest = {"engine": engine, "clinic": clinic, "database": database, "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(), "finished_at": bm.iso(finished)}
    bm.write_manifest(str(path), manifest)
    return str(path), manifest


def test_list_and_newest_filter_and_skip_incomplete(tmp_path):
    old = write_backup(tmp_path, "a.dump", NOW - datetime.timedelta(days=2))[0]
    new = write_backup(tmp_path, "b.dump", NOW)[0]
    write_backup(tmp_path, "c.rdb", NOW + datetime.timedelta(days=1), engine="redis")
    write_backup(tmp_path, "d.dump", NOW + datetime.timedelta(days=1), clinic="lub")
    (tmp_path / "orphan.dump").write_bytes(b"no manifest")
    listed = [b["path"] for b in bm.list_backups(str(tmp_path), "postgresql", "kin", "db")]
    assert listed == [new, old]
    assert bm.newest_backup(str(tmp_path), "postgresql", "kin") == new
    with pytest.raises(bm.BackupError, match="no complete backup"):
        bm.newest_backup(str(tmp_path), "mongodb")


def test_checksum_check_names_size_and_content_changes(tmp_path):
    path, manifest = write_backup(tmp_path, "a.dump", NOW, data=b"abcdef")
    assert bm.checksum_check(path, manifest)["ok"]
    (tmp_path / "a.dump").write_bytes(b"abcdeF")
    flipped = bm.checksum_check(path, manifest)
    assert not flipped["ok"] and "sha256" in flipped["detail"]
    (tmp_path / "a.dump").write_bytes(b"abc")
    truncated = bm.checksum_check(path, manifest)
    assert not truncated["ok"] and "size is 3 bytes, the manifest says 6" in truncated["detail"]
    with pytest.raises(bm.BackupError, match="has no manifest"):
        bm.read_manifest(str(tmp_path / "nothing.dump"))


def test_count_check_reports_each_table():
    ok = bm.count_check("restore", {"a": 1, "b": 2}, {"a": 1, "b": 2})
    assert ok["ok"] and ok["tables"]["b"] == {"expected": 2, "actual": 2, "ok": True}
    bad = bm.count_check("restore", {"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 0})
    assert not bad["ok"] and "b (manifest 2, restored 3)" in bad["detail"] and "c (manifest None" in bad["detail"]


def entry(path, days, verified=False):
    return {"path": path, "manifest": {"finished_at": bm.iso(NOW - datetime.timedelta(days=days)), "bytes": 1},
            "verified": {} if verified else None}


def test_prune_plan_keeps_last_young_and_newest_verified():
    backups = [entry("a", 0.5), entry("b", 3), entry("c", 8, verified=True), entry("d", 9, verified=True), entry("e", 30)]
    keep, remove = bm.prune_plan(backups, 1, 2, NOW)
    assert [k["path"] for k in keep] == ["a", "c"] and [r["path"] for r in remove] == ["b", "d", "e"]
    assert keep[1]["reason"] == "newest verified backup"
    keep, remove = bm.prune_plan(backups, None, 4, NOW)
    assert [k["path"] for k in keep] == ["a", "b", "c"]
    keep, remove = bm.prune_plan(backups, 10, None, NOW)
    assert remove == []


def test_remove_backup_takes_manifest_first(tmp_path):
    path, manifest = write_backup(tmp_path, "a.dump", NOW)
    bm.record_verified(path, manifest, [bm.check("checksum", True, "")])
    assert json.loads((tmp_path / "a.dump.verified.json").read_text())["checks"] == ["checksum"]
    bm.remove_backup(path)
    assert list(tmp_path.iterdir()) == []


def test_run_tool_uses_argv_and_reports_missing_tools():
    rc, out, _err = bm.run_tool(["echo", "a; echo b"])
    assert rc == 0 and out == "a; echo b\n"
    with pytest.raises(bm.BackupError, match="cannot run"):
        bm.run_tool(["/nonexistent/tool"])
