"""Smoke tests: reading the list, judging one answer (status, JSON paths, headers), the summary, the run."""

import json

import pytest

from ansible_collections.medops.runbook.plugins.module_utils.http_probe import Answer
from ansible_collections.medops.runbook.plugins.module_utils.smoke import (
    SmokeSpecError, judge, parse_test, parse_tests, read_token, result, run, secret_values, summary, url_path)

BASE = "http://clinic.test:8080"
VERSION_BODY = json.dumps({"version": "1.1.0", "clinic": "kin", "environment": "production"})
JSON_HEADERS = {"Content-Type": "application/json", "X-RateLimit-Limit": "120"}


def one(**test):
    return parse_test(dict({"path": "/api/version"}, **test), 0, BASE)


def test_a_path_is_called_on_the_base_url_with_get_and_200_by_default():
    test = one(name="version")
    assert (test["url"], test["method"], test["status_codes"], test["path"]) == (BASE + "/api/version", "GET", [200], "/api/version")


def test_a_status_rendered_as_text_by_a_template_is_a_number():
    assert one(status="403")["status_codes"] == [403]
    assert one(status=[200, "204"])["status_codes"] == [200, 204]


@pytest.mark.parametrize("test, words", [
    ({"path": "/x", "colour": "red"}, "unknown key(s) colour"),
    ({"name": "no target"}, "give path (starting with /) or url"),
    ({"path": "/x", "method": "BREW"}, "method 'BREW'"),
    ({"path": "/x", "status": "teapot"}, "status code 'teapot' is not a number"),
    ({"path": "/x", "json": {"path": "version"}}, "json must be a list"),
    ({"path": "/x", "json": [{"path": "version", "like": "1"}]}, "unknown operator 'like'"),
    ({"path": "/x", "headers_match": {"X-A": "("}}, "headers_match X-A"),
    ({"path": "/x", "headers_equal": ["X-A"]}, "headers_equal must be a mapping"),
    ({"path": "/x", "headers_present": "X-A"}, "headers_present must be a list"),
    ({"path": "/x", "token_file": ""}, "token_file must be a path"),
    ({"url": "clinic.test/x"}, "has no scheme"),
])
def test_a_bad_test_is_refused_with_its_index_and_reason(test, words):
    with pytest.raises(SmokeSpecError) as err:
        parse_tests([{"path": "/ok"}, test], BASE)
    assert "tests[1]" in str(err.value) and words in str(err.value)


def test_a_path_without_a_base_url_is_refused():
    with pytest.raises(SmokeSpecError, match="needs base_url"):
        parse_tests([{"path": "/x"}], None)


def test_a_body_that_is_not_text_is_sent_as_json():
    test = one(method="post", body={"user": "smoke"})
    assert test["method"] == "POST" and json.loads(test["data"]) == {"user": "smoke"}
    assert test["headers"]["Content-Type"] == "application/json"
    assert one(body="a=b")["data"] == b"a=b"


def test_every_condition_holds_on_a_good_answer():
    test = one(json=[{"path": "clinic", "equals": "kin"}, "version === 1.1.0"],
               headers_present=["X-RateLimit-Limit"], headers_equal={"content-type": "application/json"},
               headers_match={"X-RateLimit-Limit": r"^\d+$"})
    headers = dict((k.lower(), v) for k, v in JSON_HEADERS.items())
    assert judge(test, 200, headers, VERSION_BODY, "application/json") == []


def test_each_condition_that_fails_is_named():
    test = one(json=[{"path": "clinic", "equals": "lub"}, {"path": "build", "exists": True}],
               headers_present=["X-RateLimit-Remaining"], headers_equal={"Content-Type": "text/html"},
               headers_match={"X-RateLimit-Limit": "^9"})
    failures = judge(test, 503, {"content-type": "application/json", "x-ratelimit-limit": "120"}, VERSION_BODY)
    assert failures == [
        "expected HTTP 200, got 503",
        "missing headers X-RateLimit-Remaining",
        "header Content-Type is 'application/json', expected 'text/html'",
        "header X-RateLimit-Limit is '120', does not match '^9'",
        'clinic == "lub" (got "kin")',
        "build exists (got missing)",
    ]


def test_a_json_condition_on_a_body_that_is_not_json_says_so():
    assert judge(one(json=["version exists"]), 200, {}, "<html>", "text/html") == ["version exists (got a body that is not JSON)"]


def test_only_a_short_excerpt_of_a_value_found_appears():
    body = json.dumps({"note": "patient " + "x" * 500})
    failure = judge(one(json=[{"path": "note", "equals": "y"}]), 200, {}, body, "application/json")[0]
    assert len(failure) < 120 and "xxxx..." in failure


def test_secret_request_headers_are_known_and_others_are_not():
    test = one(headers={"Authorization": "Bearer s3cr3t", "X-Api-Key": "k", "Accept": "application/json"})
    assert sorted(secret_values(test)) == ["Bearer s3cr3t", "k"]
    login = one(method="POST", body={"user": "smoke", "password": "pw-1", "api_token": "t-2"})
    assert sorted(secret_values(login)) == ["pw-1", "t-2"]


def test_the_result_has_no_query_and_the_summary_names_each_failed_test():
    test = parse_test({"name": "q", "url": BASE + "/api/x?token=abc"}, 0, BASE)
    assert url_path(test["url"]) == "/api/x" and test["path"] == "/api/x"
    unnamed = parse_test({"path": "/api/y?key=abc"}, 0, BASE)
    assert (unnamed["path"], unnamed["name"]) == ("/api/y", "GET /api/y")
    results = [result(test, 500, ["expected HTTP 200, got 500"]), result(one(name="ok"), 200, [])]
    assert summary(results) == "smoke test 'q' (GET /api/x): expected HTTP 200, got 500"
    assert summary(results[1:]) == "1 smoke test(s) passed"


def test_a_token_file_is_read_and_its_problems_never_quote_it():
    assert read_token("/t", lambda path: "tok-123\n") == ("tok-123", None)
    assert read_token("/t", lambda path: "  \n") == (None, "token_file /t is empty")

    def missing(path):
        raise IOError(2, "No such file or directory")

    assert read_token("/t", missing) == (None, "token_file /t cannot be read (No such file or directory)")


class Recorder(object):
    def __init__(self, answers):
        self.answers, self.sent = list(answers), []

    def probe(self, endpoint, timeout):
        self.sent.append(endpoint)
        return self.answers.pop(0)


def test_run_sends_every_test_and_a_transport_error_fails_only_its_test():
    tests = parse_tests([{"name": "a", "path": "/a", "token_file": "/t"}, {"name": "b", "path": "/b"},
                         {"name": "c", "path": "/c", "status": 401}], BASE)
    prober = Recorder([Answer(200, "{}", "application/json"), Answer(error="connection refused", hard=True),
                       Answer(401, "{}", "application/json")])
    results = run(tests, prober, 5, lambda path: "tok\n")
    assert [r["passed"] for r in results] == [True, False, True]
    assert results[1]["failures"] == ["no answer: connection refused"]
    assert prober.sent[0]["headers"]["Authorization"] == "Bearer tok"
    assert "Authorization" not in prober.sent[1]["headers"]


def test_run_does_not_send_a_test_whose_token_cannot_be_read():
    prober = Recorder([])

    def missing(path):
        raise OSError(13, "Permission denied")

    results = run(parse_tests([{"name": "a", "path": "/a", "token_file": "/t"}], BASE), prober, 5, missing)
    assert prober.sent == [] and results[0]["failures"] == ["token_file /t cannot be read (Permission denied)"]
