"""playbooks/backup_verify.yml on the lab: every clinic's newest backup restored and counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.ansible import REPO, run_playbook

pytestmark = pytest.mark.lab
PLAYBOOK = REPO / "playbooks" / "backup_verify.yml"


def _run(lab, tmp_path, **extra_vars):
    run = run_playbook(PLAYBOOK, inventory=lab.inventory, env={**lab.env, "PWD": str(tmp_path)}, extra_vars=extra_vars)
    reports = sorted((tmp_path / "reports").glob("backup-verify-*.json"))
    assert reports, run.output[-3000:]
    return run, {r["clinic"]: r for r in json.loads(reports[-1].read_text())}


def _scratch_databases(lab):
    import psycopg2

    info = lab.info["postgres"]
    with psycopg2.connect(host=info["host"], port=info["port"], user=info["superuser"], dbname="postgres",
                          password=lab.secret(info["password_file"])) as conn, conn.cursor() as cur:
        cur.execute("SELECT datname FROM pg_database WHERE datname LIKE 'db_backup_verify_%'")
        return [row[0] for row in cur.fetchall()]


def _newest_backup(lab, code):
    manifests = sorted(Path(lab.clinic(code)["backup_dir"]).glob("*.manifest.json"), key=lambda p: p.stat().st_mtime)
    manifest = json.loads(manifests[-1].read_text())
    return Path(lab.clinic(code)["backup_dir"]) / manifest["file"]


def test_three_clinics_pass_then_one_corrupt_backup_fails_only_its_clinic(lab, tmp_path):
    run, reports = _run(lab, tmp_path / "first", backup_verify_take_backup=True)
    assert run.rc == 0, run.output[-4000:]
    assert set(reports) == {"kin", "lub", "gom"}
    for report in reports.values():
        assert report["outcome"] == "passed" and report["counts_equal"] is True and report["tables"] >= 3, report
    assert "| kin |" in (sorted((tmp_path / "first" / "reports").glob("*.md"))[-1]).read_text()

    backup = _newest_backup(lab, "lub")
    data = bytearray(backup.read_bytes())
    data[len(data) // 2] ^= 0xFF
    backup.write_bytes(bytes(data))
    run, reports = _run(lab, tmp_path / "second")
    assert run.rc != 0
    assert reports["kin"]["outcome"] == "passed" and reports["gom"]["outcome"] == "passed"
    assert reports["lub"]["outcome"] == "failed" and reports["lub"]["failed_checks"][0] == "checksum", reports["lub"]
    assert "failed: lub" in run.flat
    assert _scratch_databases(lab) == []


def test_no_scratch_database_is_left_when_the_restore_fails(lab, tmp_path):
    """The restored row counts differ from the manifest's: the check fails after the scratch
    database was created and filled, and it is dropped all the same."""
    run = _run(lab, tmp_path / "fresh", backup_verify_take_backup=True, backup_verify_hosts="clinic_gom")[0]
    assert run.rc == 0, run.output[-3000:]
    manifest_path = Path(str(_newest_backup(lab, "gom")) + ".manifest.json")
    manifest = json.loads(manifest_path.read_text())
    # Claim one more row than the backup holds: checksum and archive pass, the restore count does not.
    table = sorted(manifest["tables"])[0]
    manifest["tables"][table] += 1
    manifest_path.write_text(json.dumps(manifest))
    run, reports = _run(lab, tmp_path / "broken", backup_verify_hosts="clinic_gom")
    assert run.rc != 0
    assert reports["gom"]["outcome"] == "failed", reports["gom"]
    assert reports["gom"]["failed_checks"] == ["restore"], reports["gom"]
    assert _scratch_databases(lab) == []
