"""Deploy lock and deployment record: pure file logic, on real files in a temp directory."""

import json

import pytest

from harness.fakes import FakeClock

from ansible_collections.medops.runbook.plugins.module_utils.deploy_state import (
    DeployLock, DeploymentRecord, DeployStateError, entry_hash)


def test_lock_is_exclusive_and_names_the_holder(tmp_path):
    clock = FakeClock(1_000_000.0)
    lock = DeployLock(str(tmp_path / "deploy.lock"), now=clock)
    assert lock.acquire("alice@ops", "run-1", stale_after=600)["changed"] is True
    assert lock.acquire("alice@ops", "run-1", stale_after=600)["changed"] is False
    with pytest.raises(DeployStateError, match=r"held by alice@ops \(run run-1\)"):
        lock.acquire("bob@ops", "run-2", stale_after=600)


def test_stale_lock_is_reported_and_broken_only_on_request(tmp_path):
    clock = FakeClock(1_000_000.0)
    lock = DeployLock(str(tmp_path / "deploy.lock"), now=clock)
    lock.acquire("alice@ops", "run-1", stale_after=600)
    clock.now += 601
    with pytest.raises(DeployStateError, match="is stale.*break_stale=true"):
        lock.acquire("bob@ops", "run-2", stale_after=600)
    result = lock.acquire("bob@ops", "run-2", stale_after=600, break_stale=True)
    assert result["broke_stale"] is True and result["previous"]["run_id"] == "run-1"
    assert lock.read()["run_id"] == "run-2"


def test_young_lock_is_never_broken(tmp_path):
    lock = DeployLock(str(tmp_path / "deploy.lock"), now=FakeClock(1_000_000.0))
    lock.acquire("alice@ops", "run-1", stale_after=600)
    with pytest.raises(DeployStateError, match="wait for that run to finish"):
        lock.acquire("bob@ops", "run-2", stale_after=600, break_stale=True)


def test_release_leaves_another_runs_lock_alone(tmp_path):
    path = tmp_path / "deploy.lock"
    lock = DeployLock(str(path), now=FakeClock(1_000_000.0))
    lock.acquire("alice@ops", "run-1", stale_after=600)
    result = lock.release("run-2")
    assert result == {"path": str(path), "previous": lock.read(), "changed": False, "held_by_other": True}
    assert lock.release("run-1")["changed"] is True
    assert not path.exists()
    assert lock.release("run-1")["changed"] is False


def test_check_mode_writes_nothing(tmp_path):
    path = tmp_path / "deploy.lock"
    lock = DeployLock(str(path), now=FakeClock(1_000_000.0))
    assert lock.acquire("alice@ops", "run-1", stale_after=600, check_mode=True)["changed"] is True
    assert not path.exists()


def test_unreadable_lock_still_counts_as_held(tmp_path):
    path = tmp_path / "deploy.lock"
    path.write_text("garbage")
    with pytest.raises(DeployStateError, match="unreadable lock file"):
        DeployLock(str(path)).acquire("bob", "run-2", stale_after=600)


def _deploy(record, run, version_from, version_to, outcome):
    record.append({"version_from": version_from, "version_to": version_to, "run_id": run}, "started")
    record.append({"version_from": version_from, "version_to": version_to, "run_id": run, "outcome": outcome}, "finished")


def test_record_chain_detects_tampering(tmp_path):
    path = tmp_path / "deployments.jsonl"
    record = DeploymentRecord(str(path))
    _deploy(record, "r1", None, "1.0.0", "success")
    _deploy(record, "r2", "1.0.0", "1.1.0", "success")
    assert record.summary()["chain_valid"] is True
    lines = path.read_text().splitlines()
    edited = json.loads(lines[1])
    edited["outcome"] = "failed"
    lines[1] = json.dumps(edited)
    path.write_text("\n".join(lines) + "\n")
    summary = record.summary()
    assert summary["chain_valid"] is False and summary["chain_broken_at"] == 1
    with pytest.raises(DeployStateError, match="altered at entry 2"):
        record.append({"run_id": "r3"}, "started")


def test_removed_line_breaks_the_chain(tmp_path):
    path = tmp_path / "deployments.jsonl"
    record = DeploymentRecord(str(path))
    _deploy(record, "r1", None, "1.0.0", "success")
    lines = path.read_text().splitlines()
    path.write_text(lines[1] + "\n")
    assert record.summary()["chain_valid"] is False


def test_interrupted_run_and_rollback_target(tmp_path):
    record = DeploymentRecord(str(tmp_path / "deployments.jsonl"))
    _deploy(record, "r1", None, "1.0.0", "success")
    _deploy(record, "r2", "1.0.0", "1.1.0", "success")
    _deploy(record, "r3", "1.1.0", "1.2.0-bad", "rolled_back")
    record.append({"version_from": "1.1.0", "version_to": "1.2.0", "run_id": "r4"}, "started")
    summary = record.summary(current_version="1.1.0")
    assert [e["run_id"] for e in summary["interrupted"]] == ["r4"]
    assert summary["rollback_target"] == "1.0.0"
    assert summary["bad_versions"] == ["1.2.0-bad"]
    assert summary["good_versions"] == ["1.0.0", "1.1.0"]
    assert record.summary(current_version="1.0.0")["rollback_target"] == "1.1.0"


def test_entry_hash_ignores_its_own_hash_field():
    entry = {"a": 1, "prev_hash": "0" * 64}
    assert entry_hash(dict(entry, hash="x")) == entry_hash(entry)


def test_first_release_installed_before_the_record_is_a_rollback_target(tmp_path):
    record = DeploymentRecord(str(tmp_path / "deployments.jsonl"))
    _deploy(record, "r1", "1.0.0", "1.1.0", "success")
    assert record.summary(current_version="1.1.0")["rollback_target"] == "1.0.0"
    _deploy(record, "r2", "1.1.0", "1.2.0", "rolled_back")
    assert record.summary(current_version="1.1.0")["rollback_target"] == "1.0.0"


def test_notified_entry_keeps_the_chain_and_changes_no_answer(tmp_path):
    record = DeploymentRecord(str(tmp_path / "deployments.jsonl"))
    _deploy(record, "r1", None, "1.0.0", "success")
    _deploy(record, "r2", "1.0.0", "1.1.0", "rolled_back")
    before = record.summary(current_version="1.0.0")
    record.append({"run_id": "r2", "notifications": [{"target": "webhook", "ok": False, "error": "connection refused"}]}, "notified")
    after = record.summary(current_version="1.0.0")
    assert after["chain_valid"] and after["last"]["phase"] == "notified" and after["interrupted"] == []
    assert {k: after[k] for k in ("rollback_target", "good_versions", "bad_versions", "last_success")} == \
        {k: before[k] for k in ("rollback_target", "good_versions", "bad_versions", "last_success")}
