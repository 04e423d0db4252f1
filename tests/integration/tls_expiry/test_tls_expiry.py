"""tls_expiry against real TLS servers with certificates the test makes (openssl)."""

import subprocess

import pytest

from harness.ansible import run_module, run_module_cases
from harness.http import Reply


def _certificate(directory, days, name):
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", str(days), "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    return str(cert), str(key)


@pytest.fixture()
def tls_services(http_service, tmp_path):
    long_cert = _certificate(tmp_path, 365, "long")
    short_cert = _certificate(tmp_path, 5, "short")
    routes = {"/": lambda request: Reply(200, "ok")}
    return (http_service(routes, certfile=long_cert[0], keyfile=long_cert[1]),
            http_service(routes, certfile=short_cert[0], keyfile=short_cert[1]))


def test_reports_days_left_and_fails_on_the_expiring_one(tls_services):
    long_lived, short_lived = tls_services
    ok = run_module("tls_expiry", {"endpoints": [long_lived.url("/")], "min_days": 30})
    assert ok["changed"] is False and ok["expiring"] == []
    assert 363 <= ok["certificates"][0]["days_left"] <= 366
    both = run_module("tls_expiry", {"endpoints": [long_lived.url("/"), f"127.0.0.1:{short_lived.port}"], "min_days": 30})
    assert both["failed"] is True and both["expiring"] == [f"127.0.0.1:{short_lived.port}"]
    assert f"127.0.0.1:{short_lived.port}" in both["msg"] and "days left" in both["msg"]
    report = run_module("tls_expiry", {"endpoints": [f"127.0.0.1:{short_lived.port}"], "min_days": 30, "fail_on_expiring": False})
    assert not report.get("failed") and report["certificates"][0]["ok"] is False


BAD_ENDPOINTS = [
    (["http://example.invalid/"], "only https URLs carry a certificate"),
    (["127.0.0.1"], "expected host:port"),
    (["127.0.0.1:99999"], "expected host:port"),
    ([], "at least one endpoint"),
    (["ftp://127.0.0.1:21/"], "only https URLs carry a certificate"),
    (["https://"], "only https URLs carry a certificate"),
    (["127.0.0.1:0"], "expected host:port"),
    ([":443"], "expected host:port"),
    (["127.0.0.1:https"], "expected host:port"),
    (["127.0.0.1:443", "nothing"], "expected host:port"),
]


@pytest.fixture(scope="module")
def bad_endpoint_results():
    """Every bad endpoint list, each its own module call, in one ansible-playbook run."""
    return run_module_cases("tls_expiry", [{"endpoints": endpoints} for endpoints, _message in BAD_ENDPOINTS])


@pytest.mark.parametrize("endpoints,message", BAD_ENDPOINTS)
def test_bad_endpoints(bad_endpoint_results, endpoints, message):
    result = bad_endpoint_results[BAD_ENDPOINTS.index((endpoints, message))]
    assert result["failed"] and message in result["msg"] and "Traceback" not in result["_run"].output


def test_plain_http_port_is_a_clear_error(http_service):
    plain = http_service({"/": lambda request: Reply(200, "ok")})
    result = run_module("tls_expiry", {"endpoints": [f"127.0.0.1:{plain.port}"], "timeout": 3})
    assert result["failed"] and f"cannot fetch the TLS certificate of 127.0.0.1:{plain.port}" in result["msg"]
