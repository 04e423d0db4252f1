"""deploy_lock and deploy_record through ansible-playbook: real files, check mode, bad input."""

import json

import pytest

from harness.ansible import run_module, run_module_cases


def test_lock_round_trip_and_a_second_holder_is_refused(tmp_path):
    path = str(tmp_path / "deploy.lock")
    taken = run_module("deploy_lock", {"path": path, "run_id": "run-1", "holder": "alice"})
    assert taken["changed"] is True and taken["lock"]["holder"] == "alice"
    assert run_module("deploy_lock", {"path": path, "run_id": "run-1", "holder": "alice"})["changed"] is False
    refused = run_module("deploy_lock", {"path": path, "run_id": "run-2", "holder": "bob"})
    assert refused["failed"] and "held by alice (run run-1)" in refused["msg"]
    assert run_module("deploy_lock", {"path": path, "run_id": "run-2", "state": "released"})["held_by_other"] is True
    released = run_module("deploy_lock", {"path": path, "run_id": "run-1", "state": "released"})
    assert released["changed"] is True and not (tmp_path / "deploy.lock").exists()


def test_check_mode_takes_no_lock_and_writes_no_record(tmp_path):
    lock = run_module("deploy_lock", {"path": str(tmp_path / "deploy.lock"), "run_id": "r"}, check=True)
    record = run_module("deploy_record", {"path": str(tmp_path / "d.jsonl"), "run_id": "r", "phase": "started"}, check=True)
    assert lock["changed"] and record["changed"]
    assert list(tmp_path.iterdir()) == []


def test_record_appends_and_reads_back(tmp_path):
    path = str(tmp_path / "deployments.jsonl")
    for phase, outcome in (("started", None), ("finished", "success")):
        fields = {"version_from": "1.0.0", "version_to": "1.1.0"}
        if outcome:
            fields["outcome"] = outcome
        assert run_module("deploy_record", {"path": path, "run_id": "r1", "phase": phase, "fields": fields})["changed"]
    summary = run_module("deploy_record", {"path": path, "state": "read", "current_version": "1.1.0"})
    assert summary["changed"] is False and summary["entries"] == 2 and summary["chain_valid"] is True
    assert summary["interrupted"] == [] and summary["good_versions"] == ["1.1.0"]
    lines = [json.loads(line) for line in (tmp_path / "deployments.jsonl").read_text().splitlines()]
    assert lines[1]["prev_hash"] == lines[0]["hash"]


BAD = [
    ("deploy_lock", {"run_id": "r"}, "missing required arguments: path"),
    ("deploy_lock", {"path": "/x/y"}, "missing required arguments: run_id"),
    ("deploy_lock", {"path": "/nonexistent-dir/deploy.lock", "run_id": "r"}, "directory of the lock file does not exist"),
    ("deploy_lock", {"path": "/tmp/l", "run_id": " "}, "run_id must not be empty"),
    ("deploy_lock", {"path": "/tmp/l", "run_id": "r", "stale_after_minutes": 0}, "stale_after_minutes must be at least 1"),
    ("deploy_lock", {"path": "/tmp/l", "run_id": "r", "state": "held"}, "value of state must be one of"),
    ("deploy_lock", {"path": "/tmp/l", "run_id": "r", "break_stale": "perhaps"}, "break_stale"),
    ("deploy_lock", {"path": "/tmp/l", "run_id": "r", "stale_after_minutes": "soon"}, "stale_after_minutes"),
    ("deploy_lock", {"path": "/tmp/l", "run_id": "r", "owner": "me"}, "Unsupported parameters"),
    ("deploy_lock", {"path": "/tmp/l", "run_id": "r", "force": "always"}, "force"),
    ("deploy_record", {"path": "/tmp/d.jsonl"}, "state is appended but all of the following are missing: phase, run_id"),
    ("deploy_record", {"path": "/tmp/d.jsonl", "run_id": "r", "phase": "middle"}, "value of phase must be one of"),
    ("deploy_record", {"path": "/nonexistent-dir/d.jsonl", "state": "read"}, "directory of the deployment record does not exist"),
    ("deploy_record", {"path": "/tmp/d.jsonl", "run_id": "r", "phase": "started", "fields": "who=me,x"}, "fields"),
    ("deploy_record", {"state": "read"}, "missing required arguments: path"),
    ("deploy_record", {"path": "/tmp/d.jsonl", "state": "write"}, "value of state must be one of"),
    ("deploy_record", {"path": "/tmp/d.jsonl", "state": "read", "fields": 5}, "fields"),
    ("deploy_record", {"path": "/tmp/d.jsonl", "run_id": "r"}, "phase"),
    ("deploy_record", {"path": "/tmp/d.jsonl", "phase": "started"}, "run_id"),
    ("deploy_record", {"path": "/tmp/d.jsonl", "state": "read", "verbose": True}, "Unsupported parameters"),
]


@pytest.fixture(scope="module")
def bad_results():
    """Every bad input, each its own module call, in one ansible-playbook run per module: {case index: result}."""
    results = {}
    for module in dict.fromkeys(case[0] for case in BAD):
        indexes = [i for i, case in enumerate(BAD) if case[0] == module]
        results.update(zip(indexes, run_module_cases(module, [BAD[i][1] for i in indexes])))
    return results


@pytest.mark.parametrize("module,args,message", BAD)
def test_bad_input(bad_results, module, args, message):
    result = bad_results[BAD.index((module, args, message))]
    assert result.get("failed") is True and message in result["msg"], result.get("msg")
    assert "Traceback" not in result["_run"].output


def test_tampered_record_is_reported_and_never_appended_to(tmp_path):
    path = tmp_path / "deployments.jsonl"
    run_module("deploy_record", {"path": str(path), "run_id": "r1", "phase": "started"})
    path.write_text(path.read_text().replace('"r1"', '"r2"'))
    summary = run_module("deploy_record", {"path": str(path), "state": "read"})
    assert summary["chain_valid"] is False and summary["chain_broken_at"] == 0
    refused = run_module("deploy_record", {"path": str(path), "run_id": "r3", "phase": "started"})
    assert refused["failed"] and "altered at entry 1" in refused["msg"]
