"""Smoke tests after every rollback (the deploy's automatic one and playbooks/rollback.yml), and the
richer smoke tests (JSON-path, header-value and login POST checks of the lab inventory) on the lab.

The tests share the session lab and run in file order; each states the versions it starts from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.ansible import run_module, run_playbook
from test_deploy import CODES, DEPLOY, ROLLBACK, drop_kept_databases, record
from test_notify import unmark

pytestmark = pytest.mark.lab
# Fails on every release but 1.2.0-bad, which never becomes ready: so it fails on the release rolled back to.
NEW_VERSION_TEST = {"name": "the API reports the new release", "path": "/api/version",
                    "json": [{"path": "version", "equals": "1.2.0-bad"}]}
TOKEN_TEST = {"name": "authenticated API call works", "path": "/api/patients",
              "headers": {"Authorization": "Bearer {{ clinic_api_token }}"}}


def test_every_lab_smoke_test_passes_on_every_clinic(lab):
    """The lab inventory's smoke tests (401/200/403, rate-limit headers, JSON-path and header-value
    checks, the login POST) run on every deploy: the last deploy of 1.1.0 to each clinic (this one, or
    an earlier test's in the same lab) ran the smoke step and passed it."""
    if {lab.version(code) for code in CODES} != {"1.1.0"}:
        run = run_playbook(DEPLOY, inventory=lab.inventory, env=lab.env, extra_vars={"deploy_version": "1.1.0"})
        assert run.rc == 0, run.output[-4000:]
        assert not any(lab.clinic_secrets(code)["clinic_api_token"] in run.output for code in CODES)
    for code in CODES:
        last = [e for e in record(lab, code) if e.get("phase") == "finished" and e.get("version_to") == "1.1.0"][-1]
        assert last["outcome"] == "success" and "smoke" in [s["step"] for s in last["steps"]], last
        assert last["rollback_smoke"] == "", "no rollback, no smoke verdict on one"


def test_a_rollback_whose_old_release_fails_a_smoke_test_is_reported_as_such(lab):
    assert lab.version("kin") == "1.1.0"
    unmark(lab, "kin", "1.2.0-bad")  # test_deploy's canary test marked it bad on kin
    try:
        run = run_playbook(DEPLOY, "--limit", "kin", inventory=lab.inventory, env=lab.env,
                           extra_vars={"deploy_version": "1.2.0-bad", "deploy_smoke_tests": [TOKEN_TEST, NEW_VERSION_TEST]})
    finally:
        drop_kept_databases(lab, "kin")  # the rollback restored the database and kept the one it replaced
    assert run.rc != 0
    assert lab.version("kin") == "1.1.0" and lab.get("kin", "/api/version")[1]["version"] == "1.1.0"
    expected = ("the rolled-back release 1.1.0 FAILS its smoke tests: smoke test 'the API reports the new release'"
                " (GET /api/version): version == \"1.2.0-bad\" (got \"1.1.0\")")
    assert "kin: deploy of 1.2.0-bad failed at step 'verify'" in run.flat, run.output[-4000:]
    assert "Rolled back to 1.1.0" in run.flat and f"-- WARNING: {expected}" in run.flat, run.output[-4000:]
    assert "'authenticated API call works'" not in run.flat, "a passing test is not named"
    assert lab.clinic_secrets("kin")["clinic_api_token"] not in run.output
    last = record(lab, "kin")[-1]
    assert (last["outcome"], last["failed_step"], last["rollback_smoke"]) == ("rolled_back", "verify", expected)


def test_rollback_playbook_runs_the_smoke_tests_and_reports_a_target_that_fails_them(lab):
    assert lab.version("kin") == "1.1.0"
    # 1.0.0 fails a smoke test: it stays live, and the play says so. Named, because which release the
    # record offers depends on what earlier tests of the session did on kin (the AWX templates' runs).
    run = run_playbook(ROLLBACK, "--limit", "kin", inventory=lab.inventory, env=lab.env,
                       extra_vars={"rollback_version": "1.0.0", "deploy_smoke_tests": [TOKEN_TEST, NEW_VERSION_TEST]})
    assert run.rc != 0
    expected = ("the rolled-back release 1.0.0 FAILS its smoke tests: smoke test 'the API reports the new release'"
                " (GET /api/version): version == \"1.2.0-bad\" (got \"1.0.0\")")
    assert f"kin: rolled back to 1.0.0 (live and healthy), but {expected}" in run.flat, run.output[-4000:]
    assert lab.version("kin") == "1.0.0" and lab.get("kin", "/health/ready")[0] == 200
    last = record(lab, "kin")[-1]
    assert (last["kind"], last["outcome"], last["version_to"], last["rollback_smoke"]) == ("rollback", "smoke_failed", "1.0.0", expected)
    assert not (Path(lab.clinic("kin")["app_root"]) / "deploy.lock").exists()

    # Back to 1.1.0 with the inventory's smoke tests: they all pass there, and the record says so.
    run = run_playbook(ROLLBACK, "--limit", "kin", inventory=lab.inventory, env=lab.env, extra_vars={"rollback_version": "1.1.0"})
    assert run.rc == 0, run.output[-4000:]
    last = record(lab, "kin")[-1]
    assert (last["outcome"], last["version_to"], last["rollback_smoke"]) == ("success", "1.1.0", "passed")
    assert lab.version("kin") == "1.1.0"


def test_the_module_sends_a_token_file_and_a_login_body_and_returns_neither(lab, tmp_path):
    """medops.runbook.smoke_test straight against kin's service: a bearer token read from a file, a
    login POST with a JSON body, JSON-path and header-value checks; the token appears nowhere in the
    result (its invocation included)."""
    token = lab.clinic_secrets("kin")["clinic_api_token"]
    good, wrong = tmp_path / "token", tmp_path / "wrong"
    good.write_text(token + "\n")
    wrong.write_text("not-the-token\n")
    tests = [
        {"name": "token from a file", "path": "/api/patients", "token_file": str(good)},
        {"name": "login", "path": "/api/login", "method": "POST", "body": {"user": "smoke", "token": token},
         "json": ["authenticated == true", {"path": "clinic", "equals": "kin"}],
         "headers_equal": {"Content-Type": "application/json"}, "headers_match": {"X-RateLimit-Limit": "^[0-9]+$"}},
        {"name": "another token is refused", "path": "/api/patients", "token_file": str(wrong)},
        {"name": "login with another token", "path": "/api/login", "method": "POST", "body": {"user": "smoke", "token": "nope"},
         "json": ["authenticated == true"]},
    ]
    result = run_module("smoke_test", {"base_url": lab.url("kin"), "tests": tests})
    assert [r["passed"] for r in result["results"]] == [True, True, False, False], result["results"]
    assert result["failed_tests"] == ["another token is refused", "login with another token"]
    assert result["results"][2]["failures"] == ["expected HTTP 200, got 401"]
    assert result["results"][3]["failures"] == ["expected HTTP 200, got 401", "authenticated == true (got false)"]
    assert token not in json.dumps(result, default=str) and token not in result["_run"].output
