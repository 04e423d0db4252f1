"""Notifications of playbooks/deploy.yml on the lab, received by a real HTTP server on loopback.

A start announcement, a result per clinic and a fleet summary reach the JSON webhook and Slack;
PagerDuty gets a trigger when a clinic fails and a resolve (same dedup key) on its next success.
A dead target is a warning and a line in the record, never a different outcome. No response body
of a health endpoint reaches the output (-vvv), the record or a notification.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.ansible import REPO, run_playbook
from harness.http import Reply
from medops_lab.servers import free_port

pytestmark = pytest.mark.lab
DEPLOY = REPO / "playbooks" / "deploy.yml"
ROUTING_KEY = "pd-routing-Secret-9e4c1a7b3d5f"
HOOK_TOKEN = "hook-token-Secret-2b8d6f0a4c1e"


def record(lab, code):
    path = Path(lab.clinic(code)["app_root"]) / "deployments.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def queue_paused(lab, code):
    import redis

    return redis.Redis(**lab.redis_connection()).hget(f"bull:clinic-{code}:meta", "paused") is not None


def unmark(lab, code, version):
    """Remove an earlier test's .medops-bad mark, as an operator would, so the release may be tried again."""
    (Path(lab.clinic(code)["app_root"]) / "releases" / version / ".medops-bad").unlink(missing_ok=True)


def accept(request):
    return Reply(202, {"status": "success"})


def receiver(http_service):
    return http_service({f"/hook/{HOOK_TOKEN}": accept, "/slack": accept, "/pd/enqueue": accept})


def notify_vars(svc, **extra):
    return dict({"deploy_notify_webhook_url": svc.url(f"/hook/{HOOK_TOKEN}"), "deploy_notify_slack_webhook_url": svc.url("/slack"),
                 "deploy_notify_pagerduty_routing_key": ROUTING_KEY, "deploy_notify_pagerduty_url": svc.url("/pd/enqueue")}, **extra)


def received(svc, prefix):
    return [json.loads(r.body) for r in svc.requests if r.path.startswith(prefix)]


def deploy(lab, version, extra, *args):
    return run_playbook(DEPLOY, "--limit", "kin", *args, inventory=lab.inventory, env=lab.env,
                        extra_vars=dict(extra, deploy_version=version))


def test_a_dead_webhook_is_a_warning_and_the_deploy_still_settles(lab, http_service):
    svc = receiver(http_service)
    version = "1.0.0" if lab.version("kin") != "1.0.0" else "1.1.0"
    dead = f"http://127.0.0.1:{free_port()}/hook/{HOOK_TOKEN}"  # nothing listens there
    run = deploy(lab, version, notify_vars(svc, deploy_notify_webhook_url=dead))
    assert run.rc == 0, run.output[-4000:]
    assert lab.version("kin") == version and not queue_paused(lab, "kin")
    assert not (Path(lab.clinic("kin")["app_root"]) / "deploy.lock").exists()
    assert "[WARNING]: notify: the webhook result notification failed: connection refused" in run.flat, run.output[-4000:]
    finished, notified = record(lab, "kin")[-2:]
    assert finished["phase"] == "finished" and finished["outcome"] == "success" and finished["version_to"] == version
    assert notified["phase"] == "notified" and notified["run_id"] == finished["run_id"]
    lines = {line["target"]: line for line in notified["notifications"]}
    assert lines["webhook"]["ok"] is False and lines["webhook"]["error"] == "connection refused"
    assert lines["slack"]["ok"] and lines["slack"]["status"] == 202 and lines["pagerduty"]["action"] == "resolve"
    assert HOOK_TOKEN not in run.output and ROUTING_KEY not in run.output and HOOK_TOKEN not in json.dumps(record(lab, "kin"))
    assert [re.sub(r" \(run [^)]*\)", "", m["text"]) for m in received(svc, "/slack")] == [
        f"deploy of {version} started on 1 clinic(s): kin", f"kin: deploy of {version} {finished['version_from']} -> {version}: success",
        f"deploy of {version} finished: 1 success\nkin: success"]


def test_failure_triggers_pagerduty_and_the_next_success_resolves_it(lab, http_service):
    svc = receiver(http_service)
    unmark(lab, "kin", "1.2.0-bad")
    bad = deploy(lab, "1.2.0-bad", notify_vars(svc))
    assert bad.rc != 0 and "kin: deploy of 1.2.0-bad failed at step 'verify'" in bad.flat, bad.output[-4000:]
    hooks = received(svc, "/hook/")
    assert [h["event"] for h in hooks] == ["start", "result", "summary"]
    result = hooks[1]
    assert result["clinic"] == "kin" and result["outcome"] == "rolled_back" and result["ok"] is False
    assert result["details"]["failed_step"] == "verify" and "last status" in result["details"]["reason"]
    assert hooks[2]["clinics"][0]["clinic"] == "kin" and hooks[2]["counts"] == {"rolled_back": 1}
    (trigger,) = received(svc, "/pd/")
    assert trigger["event_action"] == "trigger" and trigger["dedup_key"] == "medops:kin:deploy"
    assert trigger["routing_key"] == ROUTING_KEY and trigger["payload"]["severity"] == "error"
    assert trigger["payload"]["component"] == "kin" and "rolled_back at step verify" in trigger["payload"]["summary"]
    assert record(lab, "kin")[-1]["phase"] == "notified"
    assert all(line["ok"] for line in record(lab, "kin")[-1]["notifications"])

    good = deploy(lab, "1.1.0", notify_vars(svc))
    assert good.rc == 0, good.output[-4000:]
    resolve = received(svc, "/pd/")[-1]
    assert resolve == {"routing_key": ROUTING_KEY, "dedup_key": "medops:kin:deploy", "event_action": "resolve"}
    assert received(svc, "/hook/")[-2]["outcome"] in ("success", "unchanged")
    assert ROUTING_KEY not in bad.output + good.output and HOOK_TOKEN not in bad.output + good.output


def test_no_response_body_reaches_the_output_the_record_or_a_notification(lab, http_service):
    marker = "MARKER-patient-3f9a1c"
    start = "<html>BODYSTART"
    page = start + "z" * (1000 - len(start)) + marker + "q" * (5000 - 1000 - len(marker))
    assert page.index(marker) == 1000 and len(page) == 5000
    calls = {"n": 0}

    def health(request):
        calls["n"] += 1  # healthy for preflight's probe, then a 503 error page
        if calls["n"] == 1:
            return Reply(200, {"status": "ok"})
        return Reply(503, page, {"Content-Type": "text/html"})
    health_svc = http_service({"/health": health})
    svc = receiver(http_service)
    entries = len(record(lab, "kin"))
    version = "1.0.0" if lab.version("kin") != "1.0.0" else "1.1.0"
    try:
        run = deploy(lab, version, notify_vars(svc, deploy_health_url=health_svc.url("/health"), deploy_health_wait_timeout=2,
                                               deploy_health_interval=0.5), "-vvv")
    finally:
        unmark(lab, "kin", version)
    assert run.rc != 0
    assert "failed at step 'verify'" in run.flat and "last status 503" in run.flat, run.output[-4000:]
    written = json.dumps(record(lab, "kin")[entries:])
    notes = json.dumps([json.loads(r.body) for r in svc.requests])
    assert "last status 503" in written and "last status 503" in notes
    for text in (run.output, written, notes):
        assert marker not in text and start not in text and "zzzzzzzzzz" not in text
    assert HOOK_TOKEN not in run.output and ROUTING_KEY not in run.output  # -vvv prints module arguments
    assert not queue_paused(lab, "kin") and not (Path(lab.clinic("kin")["app_root"]) / "deploy.lock").exists()
