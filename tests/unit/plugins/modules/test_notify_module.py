"""The thin notify module: documentation matches the spec; failed targets are warnings, not failures."""

import json

import pytest

from harness.modargs import patch_module_args
from harness.fakes import assert_documented_like_spec
from ansible_collections.medops.runbook.plugins.modules import notify


def test_every_option_is_documented_with_its_type_and_default():
    assert_documented_like_spec(notify)


def test_secrets_are_no_log():
    spec = notify.argument_spec()
    assert all(spec[name]["no_log"] for name in ("webhook_url", "slack_webhook_url", "pagerduty_routing_key"))


def run_main(capsys, args):
    with patch_module_args(args), pytest.raises(SystemExit):
        notify.main()
    return json.loads(capsys.readouterr().out)


def test_refused_target_is_a_warning(capsys):
    args = {"event": "result", "clinic": "kin", "outcome": "success", "webhook_url": "http://127.0.0.1:1/hook", "timeout": 2}
    result = run_main(capsys, args)
    assert not result.get("failed") and not result["changed"] and result["failed_targets"] == ["webhook"]
    assert any("the webhook result notification failed: connection refused" in json.dumps(w) for w in result["warnings"])
    failing = run_main(capsys, dict(args, fail_on_error=True))
    assert failing["failed"] and "failed: webhook" in failing["msg"]


def test_bad_option_fails_clearly(capsys):
    result = run_main(capsys, {"event": "result", "outcome": "success"})
    assert result["failed"] and result["msg"] == "event=result needs clinic"


def test_check_mode_and_no_targets(capsys):
    result = run_main(capsys, {"event": "start", "clinics": ["kin"], "slack_webhook_url": "http://127.0.0.1:1/x", "_ansible_check_mode": True})
    assert result["msg"] == "check mode: would notify slack" and result["notifications"][0]["skipped"]
    none = run_main(capsys, {"event": "summary"})
    assert none["msg"] == "no notification target is configured for a summary event" and none["notifications"] == []
