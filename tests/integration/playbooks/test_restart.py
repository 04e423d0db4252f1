"""playbooks/restart.yml on the lab: queues drained and resumed around a real restart, under the
deploy lock; a restart that fails, or a service that does not come back, fails loudly with the
queues resumed and the lock released."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis

from harness.ansible import REPO, run_playbook

pytestmark = pytest.mark.lab
RESTART = REPO / "playbooks" / "restart.yml"
CODE = "kin"


def service_pid(lab):
    return next(row["pid"] for row in lab.json("status", "--json")["clinics"] if row["clinic"] == CODE)


def queue_paused(lab):
    client = redis.Redis(**lab.redis_connection())
    return client.hget(f"bull:clinic-{CODE}:meta", "paused") is not None


def restart(lab, *args, **extra_vars):
    return run_playbook(RESTART, "--limit", CODE, *args, inventory=lab.inventory, env=lab.env, extra_vars=extra_vars or None)


def settled(lab):
    """The queue runs and no lock is left (whatever the run's outcome)."""
    return not queue_paused(lab) and not (Path(lab.clinic(CODE)["app_root"]) / "deploy.lock").exists()


def test_restart_drains_restarts_and_resumes(lab):
    before = service_pid(lab)
    run = restart(lab)
    assert run.rc == 0, run.output[-3000:]
    assert "kin: restarted and healthy; queues drained and resumed" in run.flat
    after = service_pid(lab)
    assert after and after != before
    assert lab.get(CODE, "/health")[0] == 200
    assert settled(lab)


def test_a_service_that_does_not_come_back_fails_loudly_with_its_queues_resumed(lab):
    run = restart(lab, restart_health_urls=[lab.url(CODE, "/health/never")], restart_health_wait_timeout=2)
    assert run.rc != 0
    assert "kin: Wait until the service answers healthy:" in run.flat, run.output[-3000:]
    assert "Its queues were resumed and the deploy lock released" in run.flat
    assert settled(lab)


def test_a_failing_restart_command_fails_with_its_queues_resumed(lab):
    run = restart(lab, restart_command=["false"])
    assert run.rc != 0
    assert "kin: Restart the service:" in run.flat, run.output[-3000:]
    assert settled(lab) and lab.get(CODE, "/health")[0] == 200


def test_a_restart_waits_for_a_running_deploy(lab):
    lock = Path(lab.clinic(CODE)["app_root"]) / "deploy.lock"
    lock.write_text(json.dumps({"holder": "alice", "run_id": "deploy-1", "acquired_epoch": time.time()}))
    try:
        run = restart(lab)
        assert run.rc != 0 and "held by alice (run deploy-1)" in run.flat, run.output[-3000:]
        assert not queue_paused(lab)
    finally:
        lock.unlink()
