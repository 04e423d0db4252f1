"""The observation window's pure parts (Prometheus and JSON counters, rates, sample and window
verdicts) and its sampling loop on a fake clock."""

import pytest

from harness.fakes import FakeClock

from ansible_collections.medops.runbook.plugins.module_utils.observe_window import (
    BREACH, FAILED, INCONCLUSIVE, OK, SUCCESSFUL, MetricsError, Observer, counter_delta, counters_from_json,
    counters_from_prometheus, error_rate, judge_sample, message, parse_prometheus, read_counters,
    summarise, verdict)

LAB_METRICS = """\
# HELP http_requests_total Requests answered, by status code.
# TYPE http_requests_total counter
http_requests_total{code="200"} 90
http_requests_total{code="401"} 4
http_requests_total{code="500"} 5
http_requests_total{code="503"} 1
# HELP http_requests_errors_total Requests answered with a 5xx status.
# TYPE http_requests_errors_total counter
http_requests_errors_total 6
"""
OPTIONS = dict(format="auto", requests_metric="http_requests_total", errors_metric="http_requests_errors_total",
               json_requests_path="requests.total", json_errors_path="requests.errors")
LIMITS = dict(max_error_rate=0.05, max_p95_ms=500.0, failure_limit=0, inconclusive_limit=1, min_requests=1,
              interval=5.0, duration=20.0, probes=2)


def test_parse_prometheus_reads_samples_labels_and_timestamps():
    samples = parse_prometheus('a_total{code="500",path="/x \\"y\\""} 3 1700000000\n\n# c\nb 1.5e2\n')
    assert samples == [("a_total", {"code": "500", "path": '/x "y"'}, 3.0), ("b", {}, 150.0)]


@pytest.mark.parametrize("text, words", [
    ("not a sample at all", "metrics line 1 is not Prometheus text format"),
    ("ok 1\nx_total NaNo", "metrics line 2 is not Prometheus text format"),
    ('x_total{code=500} 1', "bad label"),
])
def test_parse_prometheus_names_the_bad_line(text, words):
    with pytest.raises(MetricsError, match=words):
        parse_prometheus(text)


def test_counters_prefer_the_error_counter():
    assert counters_from_prometheus(LAB_METRICS, "http_requests_total", "http_requests_errors_total") == (100, 6)


def test_counters_fall_back_to_5xx_codes():
    text = LAB_METRICS.replace("http_requests_errors_total 6", "")
    assert counters_from_prometheus(text, "http_requests_total", "http_requests_errors_total") == (100, 6)
    assert counters_from_prometheus(text.replace('code="503"', 'status="503"'), "http_requests_total") == (100, 6)


def test_counters_missing_metric_or_labels():
    with pytest.raises(MetricsError, match="no requests_total samples"):
        counters_from_prometheus(LAB_METRICS, "requests_total")
    with pytest.raises(MetricsError, match="no status code label"):
        counters_from_prometheus("reqs 10\n", "reqs", "errs")


def test_json_counters():
    assert counters_from_json('{"requests": {"total": 40, "errors": 2}}', "requests.total", "requests.errors") == (40, 2)
    assert counters_from_json('{"r": [7, 1]}', "r.0", "r.1") == (7, 1)
    with pytest.raises(MetricsError, match="no requests.errors"):
        counters_from_json('{"requests": {"total": 40}}', "requests.total", "requests.errors")
    with pytest.raises(MetricsError, match="not a number"):
        counters_from_json('{"requests": {"total": true, "errors": 1}}', "requests.total", "requests.errors")
    with pytest.raises(MetricsError, match="not JSON"):
        counters_from_json("<html>", "a", "b")


def test_read_counters_detects_the_format():
    assert read_counters(LAB_METRICS, "text/plain; version=0.0.4", OPTIONS) == (100, 6)
    assert read_counters('{"requests": {"total": 3, "errors": 0}}', "application/json", OPTIONS) == (3, 0)
    with pytest.raises(MetricsError):
        read_counters(LAB_METRICS, "text/plain", dict(OPTIONS, format="json"))
    with pytest.raises(MetricsError, match="not counts"):
        read_counters("http_requests_total NaN\nhttp_requests_errors_total 0\n", "text/plain", OPTIONS)


def test_counter_delta_survives_a_reset():
    assert counter_delta(100, 130) == 30
    assert counter_delta(100, 12) == 12


def test_error_rate():
    assert error_rate((100, 6), (200, 31)) == (0.25, 100, 25)
    assert error_rate((100, 6), (100, 6)) == (None, 0, 0)
    assert error_rate((100, 6), (104, 6), min_requests=5) == (None, 4, 0)
    # a reset of the error counter alone never yields more errors than requests
    assert error_rate((100, 50), (110, 40))[0] == 1.0


def test_judge_sample():
    assert judge_sample(0.01, [10, 20], [], LIMITS) == (OK, [])
    state, reasons = judge_sample(0.25, [10], [], LIMITS)
    assert state == BREACH and reasons == ["error rate 25.0% over 5.0%"]
    state, reasons = judge_sample(0.0, [10, 900], [], LIMITS)
    assert state == BREACH and "health p95 900 ms over 500 ms" in reasons
    assert judge_sample(None, [10], ["metrics: connection refused"], LIMITS) == (INCONCLUSIVE, ["metrics: connection refused"])
    # a breach outweighs what could not be measured
    assert judge_sample(None, [], ["metrics: x"], dict(LIMITS, probe_failures=["health: HTTP 503"]))[0] == BREACH
    assert judge_sample(0.0, [10000], [], dict(LIMITS, max_p95_ms=None)) == (OK, [])


def _samples(*states):
    return [dict(state=s) for s in states]


def test_verdict_follows_argo_limits():
    assert verdict(_samples(OK, BREACH), 0, 0, False) == FAILED
    assert verdict(_samples(OK, BREACH), 1, 0, False) is None
    assert verdict(_samples(BREACH, BREACH), 1, 0, False) == FAILED
    assert verdict(_samples(INCONCLUSIVE), 0, 0, False) == INCONCLUSIVE
    assert verdict(_samples(INCONCLUSIVE, OK), 0, 1, True) == SUCCESSFUL
    assert verdict([], 0, 0, True) == INCONCLUSIVE


def test_summarise_and_message_name_the_error_rate():
    samples = [dict(state=OK, requests=40, errors=0, reasons=[]),
               dict(state=BREACH, requests=40, errors=12, reasons=["error rate 30.0% over 5.0%"]),
               dict(state=INCONCLUSIVE, requests=None, errors=None, reasons=["metrics: refused"])]
    totals = summarise(samples, [10.0, 20.0, 30.0])
    assert totals == dict(error_rate=0.15, requests=80, errors=12, latency_p95_ms=30.0, breaches=1, inconclusive=1, samples=3)
    text = message(FAILED, totals, dict(LIMITS, failure_limit=0), samples)
    assert text.startswith("observation window failed: error rate 15.0% (12 of 80 requests answered 5xx)")
    assert "last: metrics: refused" in text
    assert message(INCONCLUSIVE, totals, LIMITS, samples).startswith("observation window inconclusive")


class Script(object):
    """Counter readings (a MetricsError instance is raised) and probe answers, one per call."""

    def __init__(self, clock, readings, probes=None):
        self.clock = clock
        self.readings = list(readings)
        self.probes = list(probes or [])

    def scrape(self):
        value = self.readings.pop(0) if len(self.readings) > 1 else self.readings[0]
        if isinstance(value, Exception):
            raise value
        return value

    def probe(self):
        self.clock.sleep(0.01)
        answer = self.probes.pop(0) if len(self.probes) > 1 else self.probes[0]
        return answer


def observe(readings, probes=((0.02, None),), **limits):
    clock = FakeClock()
    script = Script(clock, readings, probes)
    return Observer(dict(LIMITS, **limits), script.scrape, script.probe, clock, clock.sleep).run()


def test_observer_passes_a_clean_window():
    result = observe([(0, 0), (40, 0), (80, 1), (120, 1), (160, 1)])
    assert result["phase"] == SUCCESSFUL
    assert result["totals"]["samples"] == 4 and result["totals"]["requests"] == 160
    assert result["totals"]["latency_p95_ms"] == 20.0
    assert result["msg"].startswith("observation window passed: error rate 0.6%")


def test_observer_stops_at_the_first_breach_beyond_the_limit():
    result = observe([(0, 0), (40, 0), (80, 10), (120, 20)], failure_limit=0)
    assert result["phase"] == FAILED
    assert result["totals"]["samples"] == 2
    assert result["samples"][1]["error_rate"] == 0.25
    assert "error rate 12.5% (10 of 80 requests answered 5xx)" in result["msg"]


def test_observer_unreachable_metrics_is_inconclusive():
    result = observe([MetricsError("connection refused")], inconclusive_limit=1)
    assert result["phase"] == INCONCLUSIVE
    assert result["totals"]["inconclusive"] == 2
    assert "metrics: connection refused" in result["msg"]


def test_observer_bad_health_answer_breaches():
    result = observe([(0, 0), (10, 0)], probes=[(0.02, (BREACH, "health: HTTP 503"))])
    assert result["phase"] == FAILED and "health: HTTP 503" in result["msg"]


def test_observer_health_timeout_is_unmeasured():
    result = observe([(0, 0), (10, 0)], probes=[(5.0, (INCONCLUSIVE, "health: no answer"))], inconclusive_limit=0)
    assert result["phase"] == INCONCLUSIVE


def test_observer_skips_ticks_missed_by_a_slow_sample():
    clock = FakeClock()
    script = Script(clock, [(0, 0), (10, 0), (20, 0), (30, 0), (40, 0)], [(7.0, None)])
    script.probe = lambda: (clock.sleep(7.0), (7.0, None))[1]
    result = Observer(dict(LIMITS, probes=1, max_p95_ms=None), script.scrape, script.probe, clock, clock.sleep).run()
    assert result["phase"] == SUCCESSFUL
    # samples start on the 5 s grid: 5 (probe until 12), then 15 (10 was missed), until 22 >= 20
    assert clock.sleeps == [5.0, 7.0, 3.0, 7.0]
    assert result["totals"]["samples"] == 2


def test_observer_without_probes_and_a_restart_in_between():
    clock = FakeClock()
    script = Script(clock, [(100, 0), (140, 0), (20, 0), (60, 0), (100, 0)])
    result = Observer(dict(LIMITS, probes=0), script.scrape, None, clock, clock.sleep).run()
    assert result["phase"] == SUCCESSFUL
    assert result["totals"]["requests"] == 40 + 20 + 40 + 40
    assert result["totals"]["latency_p95_ms"] is None
