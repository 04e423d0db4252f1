"""health_wait through ansible-playbook against real local HTTP(S) services whose health changes."""

import subprocess
import threading
import time

import pytest

from harness.ansible import run_module, run_module_cases
from harness.http import Reply
from medops_lab.servers import free_port

TOKEN = "hw-bearer-Secret-4b9d2f7e1a3c5e8f"


def healthy_after(seconds):
    """Unhealthy (503, starting) until ``seconds`` after the first request, then healthy."""
    state = {}

    def handler(request):
        first = state.setdefault("first", time.monotonic())
        if time.monotonic() - first >= seconds:
            return Reply(200, {"status": "healthy", "checks": {"database": "healthy", "redis": "healthy"}})
        return Reply(503, {"status": "starting"})
    return handler


def sequence(*replies):
    """Replies in order, then the same cycle again (a service that flaps)."""
    count = {"n": 0}

    def handler(request):
        count["n"] += 1
        return replies[(count["n"] - 1) % len(replies)]
    return handler


UP = Reply(200, {"status": "ok"})
DOWN = Reply(503, {"status": "fail"})


def test_waits_until_ready(http_service):
    svc = http_service({"/health": healthy_after(1.0)})
    # The body is returned only when asked for (return_body); this test reads it.
    result = run_module("health_wait", {"url": svc.url("/health"), "interval": 0.2, "wait_timeout": 30, "return_body": True})
    assert result["healthy"] and not result["changed"] and not result.get("failed")
    assert result["attempts"] > 1 and result["attempts"] == len(svc.requests)
    assert result["status"] == 200 and result["json"]["status"] == "healthy"
    assert result["checks"] == {"database": "healthy", "redis": "healthy"}
    assert set(result["latency_ms"]) == {"p50", "p95", "max"}
    assert result["endpoints"][0]["healthy"]


def test_flapping_service_does_not_pass_success_threshold(http_service):
    svc = http_service({"/health": sequence(UP, DOWN)})
    args = {"url": svc.url("/health"), "interval": 0.1, "wait_timeout": 2, "success_threshold": 3}
    result = run_module("health_wait", args)
    assert result["failed"] and not result["healthy"]
    assert result["attempts"] >= 3
    assert "healthy 1 time(s) in a row, 3 needed" in result["msg"] or "status 503" in result["msg"]
    passes = run_module("health_wait", dict(args, success_threshold=1))
    assert passes["healthy"]


def test_three_healthy_in_a_row_after_a_flap(http_service):
    svc = http_service({"/health": sequence(UP, DOWN, UP, UP, UP, UP)})
    result = run_module("health_wait", {"url": svc.url("/health"), "interval": 0.1, "wait_timeout": 10, "success_threshold": 3})
    assert result["healthy"] and result["attempts"] == 5


def test_503_with_degraded_checks(http_service):
    body = {"status": "degraded", "checks": [{"name": "database", "status": "ok"}, {"name": "ocr", "status": "degraded"}],
            "degraded_services": ["ocr.label"]}
    svc = http_service({"/health": lambda request: Reply(503, body)})
    # The body excerpt in the message is asked for (return_body); without it no body is quoted.
    result = run_module("health_wait", {"url": svc.url("/health"), "interval": 0.2, "wait_timeout": 1, "return_body": True})
    assert result["failed"] and not result["healthy"] and not result["changed"]
    assert result["status"] == 503 and result["degraded"] == ["ocr", "ocr.label"]
    assert result["checks"] == {"database": "ok", "ocr": "degraded", "ocr.label": "degraded"}
    message = result["msg"]
    assert svc.url("/health") in message and "last status 503" in message and "status 503 not in [200]" in message
    assert 'overall status is "degraded"' in message and '"degraded_services": ["ocr.label"]' in message
    tolerant = run_module("health_wait", {"url": svc.url("/health"), "status_codes": [200, 503], "allow_degraded": True,
                                          "wait_timeout": 0})
    assert tolerant["healthy"]


def test_no_body_text_leaves_the_module_by_default(http_service):
    marker = "PATIENT-7c2e-MARKER"
    page = "<p>" + "a" * 997 + marker + "b" * (5000 - 1000 - len(marker))
    svc = http_service({"/health": lambda request: Reply(503, page, {"Content-Type": "text/html"})})
    result = run_module("health_wait", {"url": svc.url("/health"), "wait_timeout": 0})
    assert result["failed"] and result["status"] == 503 and "last status 503" in result["msg"]
    assert marker not in repr(result) and "aaaa" not in repr(result) and "body" not in result
    asked = run_module("health_wait", {"url": svc.url("/health"), "wait_timeout": 0, "return_body": True})
    quoted = asked["msg"].split("; body: ", 1)[1]
    assert len(quoted) <= 200 and marker not in asked["msg"] and marker in asked["body"]


def test_hanging_answer_is_cut_by_the_per_request_timeout(http_service):
    release = threading.Event()

    def hang(request):
        release.wait(10)
        return UP
    svc = http_service({"/health": hang})
    try:
        result = run_module("health_wait", {"url": svc.url("/health"), "timeout": 0.5, "interval": 0.2, "wait_timeout": 2.5})
    finally:
        release.set()
    assert result["failed"] and result["status"] is None
    # Several probes fit in 2.5 s only because each one was cut at 0.5 s.
    assert result["attempts"] >= 3
    assert "no HTTP answer; no answer within the per-request timeout" in result["msg"]


def test_connection_refused_gives_up_on_failure_threshold():
    url = "http://127.0.0.1:%d/health" % free_port()
    result = run_module("health_wait", {"url": url, "interval": 0.1, "wait_timeout": 120, "failure_threshold": 3})
    assert result["failed"] and result["attempts"] == 3
    assert "3 consecutive hard failures (failure_threshold)" in result["msg"]
    assert url + ": no HTTP answer; connection refused" in result["msg"]
    assert result["endpoints"][0]["error"] == "connection refused"


@pytest.fixture()
def self_signed(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return str(cert), str(key)


def test_tls_self_signed_needs_ca_path(http_service, self_signed):
    cert, key = self_signed
    svc = http_service({"/health": lambda request: UP}, certfile=cert, keyfile=key)
    assert svc.url().startswith("https://")
    refused = run_module("health_wait", {"url": svc.url("/health"), "wait_timeout": 5, "failure_threshold": 1})
    assert refused["failed"] and "CERTIFICATE_VERIFY_FAILED" in refused["msg"] and "ca_path" in refused["msg"]
    trusted = run_module("health_wait", {"url": svc.url("/health"), "ca_path": cert, "wait_timeout": 5})
    assert trusted["healthy"] and trusted["status"] == 200


def test_bearer_token_is_sent_and_never_shown(http_service):
    def guarded(request):
        if request.headers.get("Authorization") != "Bearer " + TOKEN:
            return Reply(401, {"error": "unauthorized"})
        return Reply(200, {"status": "pass"}, {"Content-Type": "application/health+json"})
    svc = http_service({"/health": guarded})
    result = run_module("health_wait", {"url": svc.url("/health"), "bearer_token": TOKEN, "wait_timeout": 5}, "-vvv")
    assert result["healthy"]
    assert svc.requests[-1].headers["Authorization"] == "Bearer " + TOKEN
    output = result["_run"].output
    # Really verbose: the module's invocation (arguments) is printed, with the token masked.
    assert "ESTABLISH LOCAL CONNECTION" in output and "bearer_token: VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in output
    assert TOKEN not in output and TOKEN not in repr({k: v for k, v in result.items() if k != "_run"})
    wrong = run_module("health_wait", {"url": svc.url("/health"), "bearer_token": "wrong-" + TOKEN, "wait_timeout": 0}, "-vvv")
    assert wrong["failed"] and "last status 401" in wrong["msg"]
    assert TOKEN not in wrong["_run"].output


def test_basic_auth_post_and_json_checks(http_service):
    import base64
    expected = "Basic " + base64.b64encode(b"ops:pw-Secret-123").decode()

    def guarded(request):
        if request.headers.get("Authorization") != expected or request.method != "POST" or request.body != b'{"deep": true}':
            return Reply(401, {})
        return Reply(200, {"status": "ok", "ready": True, "checks": {"database": "connected"}})
    svc = http_service({"/ready": guarded})
    args = {"url": svc.url("/ready"), "url_username": "ops", "url_password": "pw-Secret-123", "method": "POST",
            "body": {"deep": True}, "body_format": "json", "json_checks": ["ready == true", {"path": "checks.database", "equals": "connected"}],
            "wait_timeout": 0}
    result = run_module("health_wait", args)
    assert result["healthy"]
    assert "pw-Secret-123" not in result["_run"].output


def test_several_endpoints_report_each(http_service):
    svc = http_service({"/live": lambda r: UP, "/ready": healthy_after(0.5), "/db": lambda r: Reply(200, "database: connected")})
    result = run_module("health_wait", {"urls": [svc.url("/live"), {"url": svc.url("/ready"), "name": "ready"},
                                                 {"url": svc.url("/db"), "body_regex": "connected"}],
                                        "interval": 0.2, "wait_timeout": 10})
    assert result["healthy"]
    names = [e["name"] for e in result["endpoints"]]
    assert names == [svc.url("/live"), "ready", svc.url("/db")]
    assert result["endpoints"][0]["attempts"] == 1 and result["endpoints"][1]["attempts"] > 1


def test_check_mode_probes_and_says_so(http_service):
    svc = http_service({"/health": lambda r: UP})
    result = run_module("health_wait", {"url": svc.url("/health"), "wait_timeout": 0}, check=True)
    assert result["healthy"] and result["check_mode"] and not result["changed"]
    assert "check mode" in result["msg"] and len(svc.requests) == 1


BAD_INPUTS = [
    ({"url": "http://127.0.0.1:1/h", "timeout": -1}, "timeout must be greater than 0"),
    ({"url": "http://127.0.0.1:1/h", "wait_timeout": -3}, "wait_timeout must be 0 or more"),
    ({"url": "http://127.0.0.1:1/h", "interval": 0}, "interval must be greater than 0"),
    ({"url": "localhost:8080/health"}, "has no scheme; write http://localhost:8080/health"),
    ({"url": "ftp://127.0.0.1/health"}, "scheme 'ftp' is not supported"),
    ({"url": "http://127.0.0.1:1/h", "json_checks": [{"path": "status", "greater": 3}]}, "unknown operator 'greater'"),
    ({"url": "http://127.0.0.1:1/h", "json_checks": ["status ~ ok"]}, "cannot read 'status ~ ok'"),
    ({"url": "http://127.0.0.1:1/h", "success_threshold": 0}, "success_threshold must be 1 or more"),
    ({"url": "http://127.0.0.1:1/h", "status_codes": [700]}, "status code 700 is outside 100-599"),
    ({"url": "http://127.0.0.1:1/h", "body_regex": "([a-z"}, "not a valid regular expression"),
    ({"url": "http://127.0.0.1:1/h", "backoff": 0.5}, "backoff must be 1"),
    ({"url": "http://127.0.0.1:1/h", "ca_path": "/nonexistent/ca.pem"}, "ca_path '/nonexistent/ca.pem' does not exist"),
    ({"urls": [{"link": "http://127.0.0.1:1/h"}]}, "unknown key(s) link"),
    ({"url": "http://127.0.0.1:1/h", "timeout": "soon"}, "timeout"),
    ({"url": "http://127.0.0.1:1/h", "urls": ["http://127.0.0.1:1/h"]}, "mutually exclusive: url|urls"),
    ({"url": "http://127.0.0.1:1/h", "bogus_option": 1}, "Unsupported parameters"),
]


@pytest.fixture(scope="module")
def bad_input_results():
    """Every bad input, each its own module call, in one ansible-playbook run."""
    return run_module_cases("health_wait", [args for args, _message in BAD_INPUTS])


@pytest.mark.parametrize("args, message", BAD_INPUTS)
def test_bad_input_is_a_clear_message(bad_input_results, args, message):
    result = bad_input_results[BAD_INPUTS.index((args, message))]
    assert result["failed"] and not result.get("changed")
    assert message in result["msg"]
    assert "Traceback" not in result["_run"].output


def test_unreadable_ca_file_is_a_clear_message(tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    result = run_module("health_wait", {"url": "https://127.0.0.1:1/health", "ca_path": str(bad)})
    assert result["failed"] and "cannot load the TLS files" in result["msg"]
    assert "Traceback" not in result["_run"].output
