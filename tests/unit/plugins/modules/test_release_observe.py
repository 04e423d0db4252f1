"""The thin module: documentation matches the argument spec; bad input fails with a message, check
mode samples nothing, main() turns the window's phase into exit/fail and returns no body."""

import json

import pytest

from harness.modargs import patch_module_args
from harness.fakes import assert_documented_like_spec
from ansible_collections.medops.runbook.plugins.doc_fragments.http_client import ModuleDocFragment
from ansible_collections.medops.runbook.plugins.module_utils import http_probe
from ansible_collections.medops.runbook.plugins.modules import release_observe

METRICS = "http://svc/metrics"
HEALTH = "http://svc/health"


def test_every_option_is_documented_with_its_type_and_default():
    assert_documented_like_spec(release_observe, ModuleDocFragment)


def test_secrets_are_no_log():
    spec = release_observe.argument_spec()
    assert spec["bearer_token"]["no_log"] and spec["url_password"]["no_log"]


def run_main(capsys, args):
    with patch_module_args(args), pytest.raises(SystemExit):
        release_observe.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("args, words", [
    ({"metrics_url": "svc/metrics", "duration": 1}, "metrics_url: 'svc/metrics' has no scheme"),
    ({"metrics_url": METRICS, "health_url": "ftp://svc/h", "duration": 1}, "health_url: scheme 'ftp' is not supported"),
    ({"metrics_url": METRICS, "duration": 0}, "duration must be greater than 0"),
    ({"metrics_url": METRICS, "duration": 5, "interval": 10}, "interval must be greater than 0 and at most duration"),
    ({"metrics_url": METRICS, "duration": 5, "max_error_rate": 5}, "max_error_rate is a fraction"),
    ({"metrics_url": METRICS, "duration": 5, "failure_limit": -1}, "failure_limit must be 0 or more"),
])
def test_bad_input_fails_with_a_message(capsys, args, words):
    result = run_main(capsys, args)
    assert result["failed"] and not result["changed"] and words in result["msg"]


def test_check_mode_samples_nothing(capsys, monkeypatch):
    monkeypatch.setattr(http_probe.Prober, "probe", lambda *a: pytest.fail("probed in check mode"))
    result = run_main(capsys, {"metrics_url": METRICS, "duration": 60, "_ansible_check_mode": True})
    assert result["phase"] == "skipped" and result["check_mode"] and not result.get("failed")
    assert result["msg"].startswith("check mode: nothing was sampled")


class Service(object):
    """Counters that grow by 20 requests per scrape, ``errors`` of them 5xx; a JSON health body."""

    def __init__(self, errors, metrics_error=None):
        self.requests = self.errors = 0
        self.per_scrape = errors
        self.metrics_error = metrics_error

    def probe(self, endpoint, timeout):
        if endpoint["url"] == HEALTH:
            return http_probe.Answer(200, '{"status": "ok", "patient": "Jane Roe"}', "application/json", latency=0.004)
        if self.metrics_error:
            return http_probe.Answer(error=self.metrics_error, hard=True)
        self.requests += 20
        self.errors += self.per_scrape
        text = 'http_requests_total{code="200"} %d\nhttp_requests_total{code="500"} %d\n' % (
            self.requests - self.errors, self.errors)
        return http_probe.Answer(200, text, "text/plain; version=0.0.4")


def observe(capsys, monkeypatch, service, **args):
    monkeypatch.setattr(http_probe.Prober, "probe", lambda prober, endpoint, timeout: service.probe(endpoint, timeout))
    base = {"metrics_url": METRICS, "health_url": HEALTH, "duration": 0.3, "interval": 0.1, "max_p95_ms": 500}
    base.update(args)
    return run_main(capsys, base)


def test_a_clean_window_passes(capsys, monkeypatch):
    result = observe(capsys, monkeypatch, Service(errors=0))
    assert result["phase"] == "successful" and not result.get("failed")
    assert result["error_rate"] == 0.0 and result["requests"] == 60 and result["sample_count"] == 3
    assert result["latency_p95_ms"] == 4.0
    assert "Jane Roe" not in json.dumps(result)


def test_errors_over_the_limit_fail_and_name_the_rate(capsys, monkeypatch):
    result = observe(capsys, monkeypatch, Service(errors=5), failure_limit=1)
    assert result["failed"] and result["phase"] == "failed" and result["breaches"] == 2
    assert result["msg"].startswith("observation window failed: error rate 25.0% (10 of 40 requests answered 5xx)")


def test_unreachable_metrics_are_inconclusive(capsys, monkeypatch):
    result = observe(capsys, monkeypatch, Service(0, metrics_error="connection refused"))
    assert result["failed"] and result["phase"] == "inconclusive" and "inconclusive" in result["msg"]
    assert "metrics: connection refused" in result["msg"]


def test_inconclusive_may_continue_with_a_warning(capsys, monkeypatch):
    result = observe(capsys, monkeypatch, Service(0, metrics_error="connection refused"), on_inconclusive="continue")
    assert not result.get("failed") and result["phase"] == "inconclusive"
    assert "observation window inconclusive" in json.dumps(result["warnings"])
