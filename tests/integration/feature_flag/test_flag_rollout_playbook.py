"""playbooks/flag_rollout.yml against a scripted service whose error counter follows the flag."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

from harness.ansible import run_playbook
from harness.http import Reply

ENV = b"# claims service\nAPP_PORT=8080\nFEATURE_FLAG_NEW_UI=false\nFEATURE_FLAG_NEW_UI_ROLLOUT=0\n"


class ClaimsService:
    """Counts requests on every /metrics scrape; errors grow once the rollout reaches ``breaks_at``."""

    def __init__(self, envfile, breaks_at=None):
        self.envfile = envfile
        self.breaks_at = breaks_at
        self.total = 0
        self.errors = 0
        self.rollouts_seen = []
        self.lock = threading.Lock()

    def rollout(self):
        match = re.search(rb"^(?:export[ \t]+)?FEATURE_FLAG_NEW_UI_ROLLOUT=(\d+)", self.envfile.read_bytes(), re.M)
        return int(match.group(1)) if match else 0

    def health(self, _request):
        return Reply(200, {"status": "ok", "checks": {"database": "ok"}})

    def metrics(self, _request):
        with self.lock:
            rollout = self.rollout()
            self.rollouts_seen.append(rollout)
            self.total += 200
            if self.breaks_at is not None and rollout >= self.breaks_at:
                self.errors += 30
            body = ("# TYPE http_requests_total counter\n"
                    f'http_requests_total{{code="200"}} {self.total - self.errors}\n'
                    f'http_requests_total{{code="500"}} {self.errors}\n'
                    "# TYPE http_requests_errors_total counter\n"
                    f"http_requests_errors_total {self.errors}\n")
        return Reply(200, body, {"Content-Type": "text/plain; version=0.0.4"})


def rollout_vars(service, envfile, **extra):
    # one ad-hoc store, no clinic inventory: the play runs on localhost, named explicitly
    settings = dict(
        flag_rollout_hosts="localhost",
        flag_rollout_name="new_ui", flag_rollout_store={"path": str(envfile)},
        flag_rollout_health_url=service.url("/health"), flag_rollout_metrics_url=service.url("/metrics"),
        flag_rollout_soak_seconds=1, flag_rollout_interval=0.5, flag_rollout_max_error_rate=0.05)
    settings.update(extra)
    return settings


def test_healthy_rollout_reaches_100(tmp_path, http_service):
    envfile = tmp_path / ".env.staging"
    envfile.write_bytes(ENV)
    claims = ClaimsService(envfile)
    service = http_service({"/health": claims.health, "/metrics": claims.metrics})
    run = run_playbook("playbooks/flag_rollout.yml", extra_vars=rollout_vars(service, envfile))
    assert run.rc == 0, run.output[-3000:]
    assert envfile.read_bytes() == ENV.replace(b"UI=false", b"UI=true").replace(b"ROLLOUT=0", b"ROLLOUT=100")
    # counters read before and after each step's soak, at that step's percentage
    assert claims.rollouts_seen == [5, 5, 25, 25, 50, 50, 100, 100]
    assert "new_ui is at 100% after 4 steps" in run.output


def breach_at_25(tmp_path, http_service, start):
    """Run the playbook on an env file holding ``start`` against a service whose errors grow from 25 %;
    returns (the file, the playbook's output on one line) after checking the breach stopped the run at 25 %."""
    envfile = tmp_path / ".env.staging"
    envfile.write_bytes(start)
    claims = ClaimsService(envfile, breaks_at=25)
    service = http_service({"/health": claims.health, "/metrics": claims.metrics})
    run = run_playbook("playbooks/flag_rollout.yml", extra_vars=rollout_vars(service, envfile))
    assert run.rc != 0
    assert claims.rollouts_seen == [5, 5, 25, 25]
    output = " ".join(run.output.split())
    assert "Rollout of new_ui stopped at 25%" in output, run.output[-3000:]
    return envfile, output


def test_error_rate_breach_at_25_restores_the_start_and_fails(tmp_path, http_service):
    envfile, output = breach_at_25(tmp_path, http_service, ENV)
    assert envfile.read_bytes() == ENV
    assert "error rate 0.15 is above the threshold 0.05" in output
    assert "30 errors of 200 requests" in output


def test_breach_restores_a_flag_that_had_no_rollout_value_byte_for_byte(tmp_path, http_service):
    """The steps add FEATURE_FLAG_NEW_UI_ROLLOUT; the restore removes it again (rollout_absent)."""
    start = b"# claims service\r\nexport FEATURE_FLAG_NEW_UI='off'  # new UI\r\nAPP_PORT=8080\r\nLAST=line"
    envfile, output = breach_at_25(tmp_path, http_service, start)
    assert envfile.read_bytes() == start
    assert "'rollout': None" in output


def test_health_breach_restores_a_flag_that_did_not_exist(tmp_path, http_service):
    envfile = tmp_path / ".env.staging"
    envfile.write_bytes(b"APP_PORT=8080\n")

    def health(_request):
        rollout = re.search(rb"ROLLOUT=(\d+)", envfile.read_bytes())
        if rollout and int(rollout.group(1)) >= 50:
            return Reply(503, {"status": "fail", "checks": {"database": "down"}})
        return Reply(200, {"status": "ok"})

    service = http_service({"/health": health, "/errors": lambda _r: Reply(200, {"app": {"error_rate": 0.001}})})
    extra = rollout_vars(service, envfile, flag_rollout_metrics_url="",
                         flag_rollout_error_json_url=service.url("/errors"), flag_rollout_error_json_path="app.error_rate")
    run = run_playbook("playbooks/flag_rollout.yml", extra_vars=extra)
    assert run.rc != 0
    assert envfile.read_bytes() == b"APP_PORT=8080\n"
    output = " ".join(run.output.split())
    assert "Rollout of new_ui stopped at 50%" in output, run.output[-3000:]
    assert "Soak while the service stays healthy at 50%" in output


def fleet_inventory(tmp_path, service) -> Path:
    """Three clinics on this machine, listed lub, gom, kin, with gom the canary; each clinic's flag
    store an env file of its own, its health URL the scripted service's."""
    clinics = {}
    for code in ("lub", "gom", "kin"):
        clinics[f"clinic_{code}"] = {"hosts": {f"{code}-app-01": {
            "ansible_connection": "local", "clinic_code": code,
            "clinic_flag_store": {"path": str(tmp_path / f"{code}.env"), "create": True},
            "clinic_health_urls": {"health": service.url("/health")}}}}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"children": {
        "clinics": {"children": clinics}, "clinics_canary": {"children": {"clinic_gom": {}}}}}}))
    return inventory


def test_the_canary_group_goes_first_then_the_clinics_in_inventory_order(tmp_path, http_service):
    service = http_service({"/health": lambda _r: Reply(200, {"status": "ok"})})
    inventory = fleet_inventory(tmp_path, service)
    quick = {"flag_rollout_steps": [100], "flag_rollout_soak_seconds": 0, "flag_rollout_interval": 0.1}
    run = run_playbook("playbooks/flag_rollout.yml", "-e", "flag_name=new_ui", inventory=inventory, extra_vars=quick)
    assert run.rc == 0, run.output[-3000:]
    done = [run.flat.index(f"{code}: new_ui is at 100% after 1 steps") for code in ("gom", "lub", "kin")]
    assert done == sorted(done)
    for code in ("lub", "gom", "kin"):
        assert (tmp_path / f"{code}.env").read_text() == "FEATURE_FLAG_NEW_UI=true\nFEATURE_FLAG_NEW_UI_ROLLOUT=100\n"
        (tmp_path / f"{code}.env").unlink()
    # one clinic by its group (this used to match no host at all)
    run = run_playbook("playbooks/flag_rollout.yml", "-e", "flag_name=new_ui", "--limit", "clinic_kin", inventory=inventory,
                       extra_vars=quick)
    assert run.rc == 0, run.output[-3000:]
    assert [path.name for path in tmp_path.glob("*.env")] == ["kin.env"]


def test_an_inventory_without_clinics_fails_instead_of_doing_nothing(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    other-01:\n")
    run = run_playbook("playbooks/flag_rollout.yml", inventory=inventory, extra_vars={"flag_name": "new_ui"})
    assert run.rc != 0
    assert "The inventory has no clinic (group clinics)" in run.flat
