"""playbooks/deploy.yml and playbooks/rollback.yml with deploy_strategy=container: the clinic runs
as containers on podman's Docker API (real PostgreSQL, Redis and BullMQ queue of a one-clinic
lab), nginx in front. The tests run in file order and share the clinic; each states the version
it starts from."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from deploy_container_support import CODE, get_json
from harness.ansible import REPO, run_playbook

pytestmark = [pytest.mark.lab, pytest.mark.slow]
DEPLOY = REPO / "playbooks" / "deploy.yml"
ROLLBACK = REPO / "playbooks" / "rollback.yml"


def deploy(clinic, version, *args, check=False, **extra):
    return run_playbook(DEPLOY, *args, inventory=clinic.inventory, env=clinic.lab.env, check=check,
                        extra_vars={"deploy_version": version, **extra})


def record(clinic):
    path = clinic.app_root / "deployments.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def queue_paused(clinic):
    import redis

    client = redis.Redis(**clinic.lab.redis_connection())
    return client.hget(f"bull:clinic-{CODE}:meta", "paused") is not None


class FrontWatcher:
    """Asks the front for its version again and again while a playbook runs: every answer it got."""

    def __init__(self, clinic):
        self.clinic = clinic
        self.answers: list[tuple[int | None, str | None]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)

    def watch(self):
        while not self.done.is_set():
            status, body = get_json(self.clinic.url("/api/version"))
            self.answers.append((status, body.get("version")))
            self.done.wait(0.2)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(timeout=30)


def test_first_deploy_runs_1_0_0_as_a_container_behind_nginx(container_clinic):
    clinic = container_clinic
    run = deploy(clinic, "1.0.0", deploy_require_healthy=False)
    assert run.rc == 0, run.output[-5000:]
    assert clinic.served() == "1.0.0"
    assert clinic.live() == "1.0.0"
    assert clinic.statuses() == {"1.0.0": "running"}
    assert clinic.front.live_port() == clinic.containers()["1.0.0"][1] == clinic.ports[0]
    shipped = json.loads((clinic.app_root / "releases" / "1.0.0" / "image.json").read_text())
    assert shipped["image"] == f"{clinic.repository}:1.0.0" and shipped["id"] == clinic.ids["1.0.0"]
    last = record(clinic)[-1]
    assert last["outcome"] == "success" and last["strategy"] == "container" and last["version_to"] == "1.0.0"


def test_deploy_starts_the_new_version_beside_the_old_and_then_stops_the_old(container_clinic):
    clinic = container_clinic
    assert clinic.live() == "1.0.0"
    old = clinic.containers()["1.0.0"]
    with FrontWatcher(clinic) as watcher:
        run = deploy(clinic, "1.1.0")
    assert run.rc == 0, run.output[-5000:]
    assert clinic.served() == "1.1.0"
    assert get_json(clinic.url("/health/ready"))[0] == 200  # 0002_appointments ran: no pending migration
    assert clinic.live() == "1.1.0"
    containers = clinic.containers()
    assert containers["1.1.0"][:2] == ("running", clinic.ports[1])
    assert containers["1.0.0"] == ("exited", old[1], old[2])  # stopped, kept (same container) for a rollback
    assert clinic.front.live_port() == clinic.ports[1]
    # The front answered throughout: the old version until the switch, the new one after it.
    versions = [version for status, version in watcher.answers]
    assert watcher.answers and {status for status, version in watcher.answers} == {200}, watcher.answers
    assert versions == sorted(versions) and set(versions) <= {"1.0.0", "1.1.0"}, versions
    last = record(clinic)[-1]
    assert last["outcome"] == "success" and [s["step"] for s in last["steps"]][:3] == ["record_start", "drain", "backup"]
    assert f"{clinic.code}: 1.0.0 -> 1.1.0 | success" in run.flat
    assert not queue_paused(clinic)


def test_deploying_the_live_version_changes_nothing(container_clinic):
    clinic = container_clinic
    assert clinic.live() == "1.1.0"
    before = (clinic.containers(), len(record(clinic)), clinic.front.upstream_file.read_text())
    run = deploy(clinic, "1.1.0")
    assert run.rc == 0, run.output[-3000:]
    assert "changed=0" in run.flat and "already live; nothing to do" in run.flat
    assert (clinic.containers(), len(record(clinic)), clinic.front.upstream_file.read_text()) == before


def test_check_mode_changes_nothing(container_clinic):
    clinic = container_clinic
    releases = clinic.app_root / "releases"
    before = (clinic.containers(), record(clinic), clinic.front.upstream_file.read_text(), sorted(p.name for p in releases.iterdir()))
    run = deploy(clinic, "1.2.0-bad", check=True)
    assert run.rc == 0, run.output[-5000:]
    assert "Traceback" not in run.output
    after = (clinic.containers(), record(clinic), clinic.front.upstream_file.read_text(), sorted(p.name for p in releases.iterdir()))
    assert after == before
    assert clinic.live() == "1.1.0" and clinic.served() == "1.1.0" and not queue_paused(clinic)


def test_a_bad_image_never_gets_traffic_and_the_old_container_keeps_serving(container_clinic):
    clinic = container_clinic
    assert clinic.live() == "1.1.0"
    serving = clinic.containers()["1.1.0"]
    with FrontWatcher(clinic) as watcher:
        run = deploy(clinic, "1.2.0-bad")
    assert run.rc != 0
    assert f"{clinic.code}: deploy of 1.2.0-bad failed at step 'switch'" in run.flat, run.output[-5000:]
    assert "failed its checks" in run.flat and "traffic stayed on 1.1.0" in run.flat
    assert watcher.answers and set(watcher.answers) == {(200, "1.1.0")}, set(watcher.answers)
    containers = clinic.containers()
    assert containers["1.1.0"] == serving  # the same container, never stopped
    assert containers["1.2.0-bad"][0] == "exited" and containers["1.2.0-bad"][1] == clinic.ports[0]
    assert clinic.front.live_port() == clinic.ports[1] and clinic.live() == "1.1.0"
    assert (clinic.app_root / "releases" / "1.2.0-bad" / ".medops-bad").exists()
    assert record(clinic)[-1]["outcome"] == "rolled_back"
    assert not queue_paused(clinic)


def test_rollback_role_starts_the_previous_container_again(container_clinic):
    clinic = container_clinic
    assert clinic.live() == "1.1.0"
    old = clinic.containers()["1.0.0"]
    run = run_playbook(ROLLBACK, inventory=clinic.inventory, env=clinic.lab.env, extra_vars={"rollback_version": "1.0.0"})
    assert run.rc == 0, run.output[-5000:]
    assert clinic.served() == "1.0.0" and clinic.live() == "1.0.0"
    containers = clinic.containers()
    assert containers["1.0.0"] == ("running", old[1], old[2])  # its stopped container, started again
    assert containers["1.1.0"][0] == "exited"
    assert clinic.front.live_port() == old[1]
    last = record(clinic)[-1]
    assert last["kind"] == "rollback" and last["outcome"] == "success" and last["version_to"] == "1.0.0"


def test_a_failure_after_the_switch_brings_the_old_container_back(container_clinic):
    clinic = container_clinic
    assert clinic.live() == "1.0.0"
    run = deploy(clinic, "1.1.0", deploy_smoke_tests=[{"name": "missing page", "path": "/no-such-page", "status": 200}])
    assert run.rc != 0
    assert f"{clinic.code}: deploy of 1.1.0 failed at step 'smoke'" in run.flat, run.output[-5000:]
    assert "Rolled back to 1.0.0" in run.flat
    assert clinic.served() == "1.0.0" and clinic.live() == "1.0.0"
    assert get_json(clinic.url("/health/ready"))[0] == 200  # the database is back without 0002 too
    assert clinic.statuses() == {"1.0.0": "running", "1.1.0": "exited", "1.2.0-bad": "exited"}
    # The release failed for a reason outside it (the smoke test asked for a page no release has):
    # the operator removes the mark and deploys again.
    (clinic.app_root / "releases" / "1.1.0" / ".medops-bad").unlink()
    again = deploy(clinic, "1.1.0")
    assert again.rc == 0, again.output[-5000:]
    assert clinic.served() == "1.1.0" and clinic.statuses()["1.0.0"] == "exited"


def test_old_stopped_containers_are_pruned_beyond_the_keep_count(container_clinic):
    clinic = container_clinic
    # keep=2 in the inventory; 1.0.0 (replaced last) is protected, 1.2.0-bad is the oldest stopped one left.
    assert set(clinic.statuses()) <= {"1.0.0", "1.1.0", "1.2.0-bad"}
    run = run_playbook(ROLLBACK, inventory=clinic.inventory, env=clinic.lab.env,
                       extra_vars={"rollback_version": "1.0.0", "deploy_container_keep": 0})
    assert run.rc == 0, run.output[-5000:]
    assert clinic.statuses() == {"1.0.0": "running", "1.1.0": "exited"}
    assert Path(clinic.app_root / "releases" / "1.2.0-bad").is_dir()  # the release record stays; only the container went


def _what_a_deploy_could_change(clinic):
    """The clinic's containers, deploy record, releases on disk and backups."""
    return (clinic.containers(), record(clinic), sorted(p.name for p in (clinic.app_root / "releases").iterdir()),
            sorted(p.name for p in Path(clinic.lab.clinic(CODE)["backup_dir"]).iterdir()))


def test_an_unreachable_docker_api_stops_the_deploy_at_preflight(container_clinic, tmp_path):
    clinic = container_clinic
    assert clinic.live() == "1.0.0"
    before = _what_a_deploy_could_change(clinic)
    run = deploy(clinic, "1.1.0", deploy_container_docker_host=f"unix://{tmp_path}/docker.sock")
    assert run.rc != 0
    assert f"cannot reach the Docker API at unix://{tmp_path}/docker.sock: no socket at" in run.flat, run.output[-3000:]
    assert "Traceback" not in run.output
    assert _what_a_deploy_could_change(clinic) == before and not (clinic.app_root / "deploy.lock").exists()
    assert clinic.served() == "1.0.0" and not queue_paused(clinic)
