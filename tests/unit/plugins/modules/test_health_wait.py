"""The thin module: documentation matches the argument spec; main() turns results into exit/fail."""

import json

import pytest

from harness.modargs import patch_module_args
from harness.fakes import assert_documented_like_spec
from ansible_collections.medops.runbook.plugins.doc_fragments.http_client import ModuleDocFragment
from ansible_collections.medops.runbook.plugins.modules import health_wait


def test_every_option_is_documented_with_its_type_and_default():
    assert_documented_like_spec(health_wait, ModuleDocFragment)


def test_design_option_names_are_kept():
    names = ("url urls method headers status_codes json_checks body_regex success_threshold failure_threshold timeout "
             "wait_timeout interval backoff max_interval validate_certs ca_path client_cert client_key url_username "
             "url_password bearer_token").split()
    assert set(names) <= set(health_wait.argument_spec())


def test_secrets_are_no_log():
    spec = health_wait.argument_spec()
    assert spec["bearer_token"]["no_log"] and spec["url_password"]["no_log"]


def run_main(capsys, args):
    with patch_module_args(args), pytest.raises(SystemExit):
        health_wait.main()
    return json.loads(capsys.readouterr().out)


def test_bad_option_fails_without_probing(capsys):
    result = run_main(capsys, {"url": "example.org/health"})
    assert result["failed"] and not result["changed"] and "has no scheme" in result["msg"]


def test_healthy_result_in_check_mode(capsys, monkeypatch):
    from ansible_collections.medops.runbook.plugins.module_utils import http_probe

    monkeypatch.setattr(http_probe.Prober, "probe", lambda self, endpoint, timeout: http_probe.Answer(200, '{"status": "UP"}', "application/json"))
    result = run_main(capsys, {"url": "http://svc/health", "_ansible_check_mode": True})
    assert result["healthy"] and result["check_mode"] and not result["changed"]
    assert result["msg"].startswith("check mode: probes were sent")
