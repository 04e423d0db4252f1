"""The smoke_test module: documentation matches the spec; bad input fails cleanly; secrets never come back."""

import json

import pytest

from harness.modargs import patch_module_args
from harness.fakes import assert_documented_like_spec
from ansible_collections.medops.runbook.plugins.doc_fragments.http_client import ModuleDocFragment
from ansible_collections.medops.runbook.plugins.module_utils import http_probe
from ansible_collections.medops.runbook.plugins.modules import smoke_test

BASE = "http://svc"


def test_every_option_is_documented_with_its_type_and_default():
    assert_documented_like_spec(smoke_test, ModuleDocFragment)


def run_main(capsys, args):
    with patch_module_args(args), pytest.raises(SystemExit):
        smoke_test.main()
    return json.loads(capsys.readouterr().out)


def answer_with(status, body, headers=None):
    def probe(self, endpoint, timeout):
        probe.sent.append(endpoint)
        return http_probe.Answer(status, body, "application/json", headers=headers or {})
    probe.sent = []
    return probe


@pytest.mark.parametrize("tests, words", [
    ([{"path": "/x", "json": "version"}], "json must be a list"),
    ([{"path": "/x", "colour": "red"}], "unknown key(s) colour"),
    ([{"path": "/x", "status": "teapot"}], "is not a number"),
])
def test_bad_input_fails_with_a_message_and_no_traceback(capsys, tests, words):
    result = run_main(capsys, {"tests": tests, "base_url": BASE})
    assert result["failed"] and not result["changed"] and words in result["msg"] and "Traceback" not in json.dumps(result)


def test_check_mode_sends_nothing(capsys, monkeypatch):
    probe = answer_with(500, "{}")
    monkeypatch.setattr(http_probe.Prober, "probe", probe)
    result = run_main(capsys, {"tests": [{"path": "/x", "method": "POST", "body": {"a": 1}}], "base_url": BASE,
                               "_ansible_check_mode": True})
    assert result["passed"] and probe.sent == [] and result["msg"] == "check mode: 1 smoke test(s) not sent"


def test_a_failed_test_fails_the_module_and_names_it_without_the_token(capsys, monkeypatch, tmp_path):
    token = tmp_path / "token"
    token.write_text("tok-very-secret-123\n")
    probe = answer_with(200, json.dumps({"version": "1.0.0", "echo": "tok-very-secret-123"}), {"x-clinic-version": "1.0.0"})
    monkeypatch.setattr(http_probe.Prober, "probe", probe)
    tests = [{"name": "new version", "path": "/api/version", "token_file": str(token),
              "json": [{"path": "version", "equals": "1.1.0"}], "headers_equal": {"X-Clinic-Version": "1.1.0"}},
             {"name": "with header", "path": "/api/patients", "headers": {"Authorization": "Bearer vault-tok-456"}}]
    result = run_main(capsys, {"tests": tests, "base_url": BASE})
    assert result["failed"] and not result["passed"] and result["failed_tests"] == ["new version"]
    assert result["msg"] == ("smoke test 'new version' (GET /api/version): header X-Clinic-Version is '1.0.0', "
                             "expected '1.1.0', version == \"1.1.0\" (got \"1.0.0\")")
    assert probe.sent[0]["headers"]["Authorization"] == "Bearer tok-very-secret-123"
    text = json.dumps(result)
    assert "tok-very-secret-123" not in text and "vault-tok-456" not in text
    assert [r["passed"] for r in result["results"]] == [False, True]
