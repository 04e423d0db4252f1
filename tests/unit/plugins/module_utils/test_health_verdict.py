"""The health check's verdict: healthy, degraded or down from registered probe results."""

import pytest

from ansible_collections.medops.runbook.plugins.module_utils.health_verdict import verdict

NOW = 1_800_000_000.0
HEALTHY_SERVICE = {"healthy": True, "endpoints": [{"status": 200}], "degraded": []}
QUEUE = {"exists": True, "paused_before": False, "counts": {"waiting": 3, "failed": 1, "active": 0}}


def results(**changes):
    base = {"service": HEALTHY_SERVICE, "database": {"server_version": "15.8"}, "redis": {"server_version": "7.0"},
            "queues": {"queues": {"clinic-kin": dict(QUEUE)}}, "tls": {"skipped": True},
            "backups": [{"path": "/b/old.manifest.json", "mtime": NOW - 50 * 3600},
                        {"path": "/b/new.manifest.json", "mtime": NOW - 3600}]}
    base.update(changes)
    return base


def test_everything_well_is_healthy():
    report = verdict(results(), "kin", NOW)
    assert report["status"] == "healthy" and report["problems"] == []
    assert report["newest_backup"] == "new.manifest.json" and report["backup_age_hours"] == 1.0
    assert report["queues"]["clinic-kin"]["counts"]["waiting"] == 3


@pytest.mark.parametrize("queue, problem", [
    ({"paused_before": True}, "queue clinic-kin: paused (jobs wait until it is resumed)"),
    ({"counts": {"waiting": 1001, "failed": 0}}, "queue clinic-kin: 1001 jobs waiting (more than 1000)"),
    ({"counts": {"waiting": 0, "failed": 101}}, "queue clinic-kin: 101 failed jobs (more than 100)"),
])
def test_a_paused_or_piling_queue_is_degraded(queue, problem):
    report = verdict(results(queues={"queues": {"clinic-kin": dict(QUEUE, **queue)}}), "kin", NOW)
    assert report["status"] == "degraded" and report["problems"] == [problem]


def test_queue_limits_are_the_callers():
    crowded = results(queues={"queues": {"clinic-kin": dict(QUEUE, counts={"waiting": 50, "failed": 0})}})
    assert verdict(crowded, "kin", NOW, queue_max_waiting=10)["problems"] == ["queue clinic-kin: 50 jobs waiting (more than 10)"]
    assert verdict(crowded, "kin", NOW)["status"] == "healthy"


def test_probes_switched_off_count_as_fine():
    report = verdict(results(database={"skipped": True}, redis={"skipped": True}, queues={"skipped": True}), "kin", NOW)
    assert report["status"] == "healthy" and report["database"] == "ok" and report["queues"] == {}


def test_old_or_missing_backups_and_expiring_certificates_degrade():
    old = verdict(results(backups=[{"path": "/b/x.manifest.json", "mtime": NOW - 30 * 3600}]), "kin", NOW)
    assert old["problems"] == ["backup: newest is 30.0 h old"]
    none = verdict(results(backups=[], tls={"expiring": ["kin.example.org:443 (3 days)"]}), "kin", NOW)
    assert none["problems"] == ["backup: none found", "tls: kin.example.org:443 (3 days)"]
    assert none["status"] == "degraded" and none["backup_age_hours"] is None


def test_down_needs_the_service_unable_to_serve():
    failing = {"healthy": False, "msg": "x" * 300, "endpoints": [{"status": 503}]}
    db_gone = verdict(results(service=failing, database={"msg": "connection refused"}), "kin", NOW)
    assert db_gone["status"] == "down" and db_gone["database"] == "fail"
    assert db_gone["problems"][0] == "service: " + "x" * 157 + "..."
    nothing = verdict(results(service={"healthy": False, "endpoints": [{"status": None}]}), "kin", NOW)
    assert nothing["status"] == "down"
    answering = verdict(results(service={"healthy": False, "msg": "degraded", "endpoints": [{"status": 200}]}), "kin", NOW)
    assert answering["status"] == "degraded"


@pytest.mark.parametrize("process, problem", [
    ({"pids": [], "problems": ["no process matches 'clinic_service'"]}, "process: no process matches 'clinic_service'"),
    ({"pids": [10], "problems": ["nothing accepts connections on port 8080"]}, "process: nothing accepts connections on port 8080"),
    ({"failed": True, "msg": "no account named 'x' on this host"}, "process: no account named 'x' on this host"),
])
def test_a_missing_process_or_port_degrades(process, problem):
    report = verdict(results(process=process), "kin", NOW)
    assert report["status"] == "degraded" and report["problems"] == [problem]


def test_log_errors_over_the_limit_degrade_and_the_count_is_reported():
    logs = {"errors": 11, "since": "2026-11-30T14:00:00", "excerpts": ["... ERROR *** ..."]}
    report = verdict(results(logs=logs), "kin", NOW, log_max_errors=10)
    assert report["problems"] == ["logs: 11 error lines since 2026-11-30T14:00:00 (more than 10)"]
    assert (report["log_errors"], report["log_excerpts"]) == (11, ["... ERROR *** ..."])
    assert verdict(results(logs=logs), "kin", NOW, log_max_errors=11)["status"] == "healthy"
    unreadable = verdict(results(logs={"failed": True, "msg": "cannot read x: Permission denied"}), "kin", NOW)
    assert unreadable["problems"] == ["logs: cannot read x: Permission denied"]
    assert verdict(results(logs={"skipped": True}), "kin", NOW)["log_errors"] is None


@pytest.mark.parametrize("far_copy, problem", [
    ({"target": "s3://b/kin/", "newest": {"name": "x", "age_hours": 30.5}}, "far copy: newest on s3://b/kin/ is 30.5 h old"),
    ({"target": "s3://b/kin/", "newest": {}}, "far copy: none on s3://b/kin/"),
    ({"failed": True, "msg": "list on s3://b/kin/ failed: refused"}, "far copy: list on s3://b/kin/ failed: refused"),
])
def test_an_old_missing_or_unlisted_far_copy_is_degraded(far_copy, problem):
    report = verdict(results(far_copy=far_copy), "kin", NOW, far_copy_max_age_hours=26)
    assert report["status"] == "degraded" and report["problems"] == [problem]


def test_a_young_far_copy_or_no_far_check_is_healthy():
    young = {"target": "ssh", "newest": {"name": "x", "age_hours": 2.0}}
    assert verdict(results(far_copy=young), "kin", NOW)["far_copy_age_hours"] == 2.0
    assert verdict(results(far_copy=young), "kin", NOW)["status"] == "healthy"
    assert verdict(results(far_copy={"skipped": True}), "kin", NOW)["status"] == "healthy"
