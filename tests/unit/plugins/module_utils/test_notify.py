"""Notification payloads and sending (with a stub opener): what each target gets, and what never leaves."""

import json

import pytest

from ansible.module_utils.six.moves.urllib.error import URLError
from ansible_collections.medops.runbook.plugins.module_utils.notify import (
    NotifyConfigError, build_messages, clean_details, dedup_key, notify)

BASE = dict(event="result", playbook="deploy", run_id="r1", version="1.2.0", clinic="kin", outcome="rolled_back",
            details={}, clinics=[], source=None, webhook_url="http://hook/T0KEN", slack_webhook_url="http://slack/S3CRET",
            pagerduty_routing_key="RK-Secret-123", pagerduty_url="http://pd/enqueue", pagerduty_severity="error",
            timeout=5.0, validate_certs=True, fail_on_error=False, announce_success=True)


def params(**kw):
    out = dict(BASE)
    out.update(kw)
    return out


class Opener(object):
    def __init__(self, status=202, error=None):
        self.sent, self.status, self.error = [], status, error

    def __call__(self, url, data, headers, timeout):
        self.sent.append((url, json.loads(data.decode()), headers))
        if self.error:
            raise self.error
        return self.status


def test_failure_triggers_pagerduty_with_a_stable_dedup_key():
    details = {"version_before": "1.1.0", "failed_step": "verify", "reason": "last status 503", "body": "<html>PATIENT</html>",
               "json": {"patient": "x"}, "database_kept": "kin_kept_1", "rows_since_backup": {"visits": 3, "bad": "x"}}
    messages = dict(build_messages(params(details=details)))
    pd = messages["pagerduty"]
    assert pd["event_action"] == "trigger" and pd["dedup_key"] == "medops:kin:deploy" == dedup_key("kin", "deploy")
    assert pd["routing_key"] == "RK-Secret-123" and pd["payload"]["severity"] == "error" and pd["payload"]["source"] == "kin"
    assert "kin: deploy of 1.2.0 1.1.0 -> 1.2.0: rolled_back at step verify (last status 503)" in pd["payload"]["summary"]
    hook = messages["webhook"]
    assert hook["event"] == "result" and hook["outcome"] == "rolled_back" and hook["ok"] is False
    assert hook["details"]["database_kept"] == "kin_kept_1" and hook["details"]["rows_since_backup"] == {"visits": 3}
    assert "PATIENT" not in json.dumps(messages) and "patient" not in json.dumps(messages)
    assert messages["slack"] == {"text": hook["text"]}


@pytest.mark.parametrize("outcome", ["success", "unchanged", "passed"])
def test_good_outcome_resolves_the_same_key(outcome):
    pd = dict(build_messages(params(outcome=outcome)))["pagerduty"]
    assert pd == {"routing_key": "RK-Secret-123", "dedup_key": "medops:kin:deploy", "event_action": "resolve"}


def test_start_and_summary_go_to_webhook_and_slack_only():
    start = dict(build_messages(params(event="start", clinic=None, outcome=None, clinics=["kin", "lub"])))
    assert set(start) == {"webhook", "slack"} and start["webhook"]["clinics"] == ["kin", "lub"]
    assert start["slack"]["text"] == "deploy of 1.2.0 started on 2 clinic(s): kin, lub (run r1)"
    rows = [{"clinic": "kin", "outcome": "rolled_back", "failed_step": "verify"}, {"clinic": "lub"}]
    summary = dict(build_messages(params(event="summary", clinic=None, outcome=None, clinics=rows)))
    assert set(summary) == {"webhook", "slack"}
    assert summary["webhook"]["counts"] == {"rolled_back": 1, "not_reached": 1} and summary["webhook"]["ok"] is False
    assert summary["webhook"]["clinics"][0] == {"clinic": "kin", "outcome": "rolled_back", "failed_step": "verify"}


def test_long_reason_is_cut_and_details_are_allow_listed():
    cleaned = clean_details({"reason": "x " * 400, "content": "body", "seconds": 3.5, "queues_resumed": True})
    assert set(cleaned) == {"reason", "seconds", "queues_resumed"} and len(cleaned["reason"]) == 300


def test_unconfigured_targets_send_nothing():
    result = notify(params(webhook_url="", slack_webhook_url=None, pagerduty_routing_key=""), opener=Opener())
    assert result == {"notifications": [], "sent": 0, "failed_targets": []}


def test_each_target_gets_a_status_line_and_failures_never_raise():
    opener = Opener(error=URLError(ConnectionRefusedError(111, "refused")))
    result = notify(params(), opener=opener)
    assert [line["target"] for line in result["notifications"]] == ["webhook", "slack", "pagerduty"]
    assert result["failed_targets"] == ["webhook", "slack", "pagerduty"] and result["sent"] == 0
    assert all(line["error"] == "connection refused" and line["status"] is None for line in result["notifications"])
    assert "T0KEN" not in json.dumps(result) and "RK-Secret" not in json.dumps(result)
    assert [url for url, _d, _h in opener.sent] == ["http://hook/T0KEN", "http://slack/S3CRET", "http://pd/enqueue"]


def test_non_2xx_is_a_failure_with_its_status():
    result = notify(params(slack_webhook_url="", pagerduty_routing_key=""), opener=Opener(status=500))
    assert result["notifications"][0]["status"] == 500 and result["notifications"][0]["error"] == "HTTP 500"
    ok = notify(params(slack_webhook_url="", pagerduty_routing_key=""), opener=Opener(status=204))
    assert ok["sent"] == 1 and ok["notifications"][0]["ok"]


def test_check_mode_sends_nothing():
    opener = Opener()
    result = notify(params(), check_mode=True, opener=opener)
    assert opener.sent == [] and all(line["skipped"] for line in result["notifications"])
    assert result["notifications"][2]["action"] == "trigger" and result["failed_targets"] == []


@pytest.mark.parametrize("kw, message", [
    (dict(clinic=None), "event=result needs clinic"),
    (dict(outcome=""), "event=result needs outcome"),
    (dict(webhook_url="hook.example.org/T0KEN"), "webhook_url must start with http"),
    (dict(timeout=0), "timeout must be greater than 0"),
    (dict(event="summary", clinics=[{"outcome": "failed"}]), "clinics[0] has no clinic"),
    (dict(event="summary", clinics="kin"), "clinics must be a list"),
])
def test_bad_options(kw, message):
    with pytest.raises(NotifyConfigError) as exc:
        notify(params(**kw), opener=Opener())
    assert message in str(exc.value) and "T0KEN" not in str(exc.value)


def test_quiet_success_only_resolves():
    quiet = dict(build_messages(params(outcome="passed", playbook="backup_verify", announce_success=False)))
    assert set(quiet) == {"pagerduty"} and quiet["pagerduty"]["dedup_key"] == "medops:kin:backup_verify"
    loud = dict(build_messages(params(outcome="failed", playbook="backup_verify", announce_success=False)))
    assert set(loud) == {"webhook", "slack", "pagerduty"} and loud["pagerduty"]["event_action"] == "trigger"


def test_a_rolled_back_release_that_fails_its_smoke_tests_is_said_so():
    smoke = "the rolled-back release 1.1.0 FAILS its smoke tests: smoke test 'v' (GET /api/version): expected HTTP 200, got 500"
    hook = dict(build_messages(params(details={"version_before": "1.1.0", "rollback_smoke": smoke})))["webhook"]
    assert hook["text"].endswith("rolled_back; %s (run r1)" % smoke) and hook["details"]["rollback_smoke"] == smoke
    passed = dict(build_messages(params(details={"version_before": "1.1.0", "rollback_smoke": "passed"})))["webhook"]
    assert "FAILS" not in passed["text"] and passed["details"]["rollback_smoke"] == "passed"
