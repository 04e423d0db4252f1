"""Judging health answers: every body shape the runbooks show, conditions and their parsing."""

import json
import re

import pytest

from ansible_collections.medops.runbook.plugins.module_utils.health_body import (
    DEGRADED, HEALTHY, UNHEALTHY, CheckSpecError, classify, evaluate, extract_checks, parse_check, resolve)


def judge(body, status=200, content_type="application/json", **expect):
    if "checks" in expect:
        expect["checks"] = [parse_check(c) for c in expect["checks"]]
    text = body if isinstance(body, str) else json.dumps(body)
    return evaluate(status, text, content_type, expect)


@pytest.mark.parametrize("word", ["ok", "healthy", "pass", "UP", "Up", "passing", True])
def test_healthy_words(word):
    assert classify(word) == HEALTHY
    assert judge({"status": word})["healthy"]


@pytest.mark.parametrize("word", ["fail", "DOWN", "unhealthy", "error", "starting", False])
def test_unhealthy_words_fail_the_probe(word):
    verdict = judge({"status": word})
    assert classify(word) == UNHEALTHY
    assert not verdict["healthy"]
    assert "overall status is" in verdict["failures"][0]


def test_degraded_fails_unless_allowed():
    body = {"status": "degraded", "degraded_services": ["ocr.label"]}
    verdict = judge(body)
    assert not verdict["healthy"]
    assert verdict["degraded"] == ["ocr.label"]
    assert verdict["checks"] == {"ocr.label": DEGRADED}
    assert judge(body, allow_degraded=True)["healthy"]


def test_unknown_status_word_leaves_it_to_the_status_code():
    assert judge({"status": "v1.2.3 running"})["healthy"]
    assert not judge({"status": "v1.2.3 running"}, status=500)["healthy"]


def test_checks_as_map_of_strings():
    body = {"status": "healthy", "checks": {"database": "healthy", "redis": "healthy", "medplum": "down"}}
    verdict = judge(body)
    assert not verdict["healthy"]
    assert verdict["checks"]["medplum"] == "down"
    assert verdict["degraded"] == ["medplum"]
    assert "medplum=down" in verdict["failures"][0]


def test_checks_as_list_of_name_status():
    body = {"status": "healthy", "checks": [{"name": "database", "status": "ok"}, {"name": "redis", "status": "ok"}]}
    verdict = judge(body)
    assert verdict["healthy"]
    assert verdict["checks"] == {"database": "ok", "redis": "ok"}
    body["checks"][1]["status"] = "fail"
    assert judge(body)["degraded"] == ["redis"]
    assert not judge(body)["healthy"]


def test_health_json_with_warn_and_check_lists():
    body = {"status": "warn", "checks": {
        "db:responseTime": [{"componentId": "a", "status": "pass"}, {"componentId": "b", "status": "warn"}],
        "uptime": [{"status": "pass"}]}}
    verdict = judge(body, content_type="application/health+json")
    assert verdict["checks"] == {"db:responseTime": "warn", "uptime": "pass"}
    assert not verdict["healthy"]
    assert judge(body, content_type="application/health+json", allow_degraded=True)["healthy"]
    body["status"] = "fail"
    assert not judge(body, content_type="application/health+json", allow_degraded=True)["healthy"]


def test_spring_components_and_nested_status():
    body = {"status": "UP", "components": {"db": {"status": "UP", "details": {"database": "PostgreSQL"}},
                                           "diskSpace": {"status": "OUT_OF_SERVICE"}}}
    verdict = judge(body)
    assert verdict["checks"] == {"db": "UP", "diskSpace": "OUT_OF_SERVICE"}
    assert not verdict["healthy"]


def test_ready_flag():
    assert judge({"ready": True, "status": "ok", "checks": []})["healthy"]
    verdict = judge({"ready": False})
    assert not verdict["healthy"]
    assert verdict["overall"] is False


def test_boolean_check_states():
    verdict = judge({"checks": {"db": True, "cache": False}})
    assert verdict["degraded"] == ["cache"]
    assert not verdict["healthy"]


def test_503_with_degraded_checks_names_them():
    verdict = judge({"status": "degraded", "checks": {"db": "ok", "queue": "degraded"}}, status=503)
    assert not verdict["healthy"]
    assert verdict["failures"][0] == "status 503 not in [200]"
    assert verdict["degraded"] == ["queue"]


def test_plain_text_body_and_regex():
    ok = evaluate(200, "OK", "text/plain", {"regex": re.compile(r"^OK$")})
    assert ok["healthy"] and ok["json"] is None
    bad = evaluate(200, "starting", "text/plain", {"regex": re.compile(r"^OK$")})
    assert bad["failures"] == ["body does not match '^OK$'"]


def test_interpret_body_off_ignores_status_words():
    assert judge({"status": "fail"}, interpret_body=False)["healthy"]


def test_json_checks_replace_the_default_judgement():
    body = {"status": "degraded", "checks": {"database": "ok"}}
    assert judge(body, checks=["checks.database == ok"])["healthy"]


@pytest.mark.parametrize("spec, holds", [
    ({"path": "status", "equals": "healthy"}, True),
    ({"path": "status", "equals": "HEALTHY"}, True),
    ({"path": "status", "not_equals": "healthy"}, False),
    ({"path": "status", "in": ["ok", "healthy"]}, True),
    ({"path": "status", "not_in": ["ok", "healthy"]}, False),
    ({"path": "checks.database", "equals": "ok"}, True),
    ({"path": "checks.redis", "exists": True}, False),
    ({"path": "checks.redis", "exists": False}, True),
    ({"path": "checks.redis", "not_equals": "down"}, True),
    ({"path": "ready", "equals": True}, True),
    ({"path": "ready", "equals": "true"}, True),
    ({"path": "version.major", "equals": 2}, True),
    ({"path": "items.1.name", "equals": "b"}, True),
    ({"path": "items.5.name", "exists": True}, False),
    ({"path": "services.ocr.label", "equals": "up"}, True),
    ("status == healthy", True),
    ("status != healthy", False),
    ("status in [ok, healthy]", True),
    ("status not in [ok, healthy]", False),
    ("ready == true", True),
    ("checks.database exists", True),
    ("checks.nothing not exists", True),
    ("version.major == 3", False),
])
def test_conditions(spec, holds):
    body = {"status": "healthy", "ready": True, "checks": {"database": "ok"}, "version": {"major": 2},
            "items": [{"name": "a"}, {"name": "b"}], "services": {"ocr.label": "up"}}
    assert judge(body, checks=[spec])["healthy"] is holds


@pytest.mark.parametrize("spec, holds", [
    ({"path": "version", "is": "1.10.0"}, True),
    ({"path": "version", "is": "1.1"}, False),  # `equals` would hold: both read as the number 1.1
    ({"path": "version", "is": "1.10.0 "}, False),
    ({"path": "state", "is": "ok"}, False),  # case matters
    ({"path": "build", "is": 7}, True),
    ({"path": "build", "is": "7"}, True),  # a rendered template is text: compared with the JSON form
    ({"path": "build", "is": 7.0}, False),
    ({"path": "build", "is": True}, False),
    ({"path": "ready", "is": True}, True),
    ({"path": "ready", "is": "true"}, True),
    ({"path": "ready", "is": 1}, False),
    ({"path": "label", "is": 7}, False),  # a JSON string is not a number
    ({"path": "missing", "is": "x"}, False),
    ("version === 1.10.0", True),
    ("state === Ok", True),
    ("build === 7", True),
    ("label === 7", True),
])
def test_strict_condition(spec, holds):
    body = {"version": "1.10.0", "state": "Ok", "build": 7, "ready": True, "label": "7"}
    assert judge(body, checks=[spec])["healthy"] is holds


def test_loose_equals_is_why_versions_use_is():
    body = {"version": "1.10"}
    assert judge(body, checks=["version == 1.1"])["healthy"] is True
    assert judge(body, checks=["version === 1.10"])["healthy"] is True
    assert judge(body, checks=["version === 1.1"])["healthy"] is False
    assert judge(body, checks=["version === 1.1"])["failures"] == ['version === "1.1" (got "1.10")']


def test_failed_condition_says_what_was_seen():
    verdict = judge({"checks": {"database": "down"}}, checks=["checks.database == ok"])
    assert verdict["failures"] == ['checks.database == "ok" (got "down")']
    verdict = judge("not json", content_type="text/plain", checks=["status == ok"])
    assert "not JSON" in verdict["failures"][0]


def test_resolve_prefers_whole_keys_with_dots():
    assert resolve({"a.b": 1, "a": {"b": 2}}, "a.b") == 1
    assert resolve({"a": {"b": 2}}, "a.b") == 2


@pytest.mark.parametrize("spec, message", [
    ({"path": "status", "greater": 3}, "unknown operator 'greater'"),
    ({"path": "status"}, "exactly one operator"),
    ({"path": "status", "equals": 1, "in": [1]}, "exactly one operator"),
    ({"equals": "ok"}, "'path'"),
    ({"path": "status", "in": "ok"}, "needs a list"),
    ({"path": "status", "exists": "yes"}, "true or false"),
    ("status ~= ok", "cannot read"),
    (42, "expected a string or a dict"),
])
def test_bad_conditions_are_clear_errors(spec, message):
    with pytest.raises(CheckSpecError, match=re.escape(message)):
        parse_check(spec)


def test_extract_checks_ignores_non_states():
    assert extract_checks({"checks": {"uptime": 12345, "db": "ok"}}) == {"db": "ok"}
    assert extract_checks(["not", "a", "map"]) == {}
