"""flag_rollout: the steps still to run, the way back, and a step's error rate (the flag_rollout role's decisions)."""

from __future__ import annotations

import pytest

from ansible_collections.medops.runbook.plugins.module_utils.flag_rollout import counter_sum, plan, step_error_rate

STEPS = [5, 25, 50, 100]


@pytest.mark.parametrize("before, steps, restore", [
    ({"exists": False, "enabled": False, "rollout": None}, STEPS, {"state": "absent", "rollout_absent": False}),
    ({"exists": True, "enabled": False, "rollout": None}, STEPS, {"state": "disabled", "rollout_absent": True}),
    ({"exists": True, "enabled": False, "rollout": 0}, STEPS, {"state": "disabled", "rollout_absent": False, "rollout": 0}),
    # a disabled flag that had gone to 50 % starts again from the first step: nobody sees it now
    ({"exists": True, "enabled": False, "rollout": 50}, STEPS, {"state": "disabled", "rollout_absent": False, "rollout": 50}),
    # an enabled flag is never set back below its rollout
    ({"exists": True, "enabled": True, "rollout": 25}, [50, 100], {"state": "enabled", "rollout_absent": False, "rollout": 25}),
    ({"exists": True, "enabled": True, "rollout": 0}, STEPS, {"state": "enabled", "rollout_absent": False, "rollout": 0}),
    ({"exists": True, "enabled": True, "rollout": 100}, [], {"state": "enabled", "rollout_absent": False, "rollout": 100}),
    # enabled without a rollout value: on for everyone already
    ({"exists": True, "enabled": True, "rollout": None}, [], {"state": "enabled", "rollout_absent": True}),
])
def test_plan_runs_what_is_left_and_knows_the_way_back(before, steps, restore):
    assert plan(before, ["5", 25, 50.0, 100]) == {"steps": steps, "final": 100, "restore": restore}


@pytest.mark.parametrize("before, final", [
    ({"exists": True, "enabled": True, "rollout": 50}, 50), ({"exists": True, "enabled": True, "rollout": None}, 100),
    ({"exists": True, "enabled": False, "rollout": 50}, 25), ({"exists": False, "enabled": False, "rollout": None}, 25),
])
def test_a_flag_further_than_the_last_step_stays_where_it_is(before, final):
    result = plan(before, [5, 25])
    assert result["final"] == final and result["steps"] == ([] if before["enabled"] else [5, 25])


def test_plan_of_a_missing_flag_ignores_a_stray_rollout():
    assert plan({"exists": False, "enabled": True, "rollout": 30}, STEPS)["steps"] == STEPS


PROM = """# TYPE http_requests_total counter
http_requests_total{code="200"} 170
http_requests_total{code="500"} 30 1700000000000
http_requests_errors_total 30
http_requests_errors_total_bucket 99
"""


def test_counter_sums_every_series_or_exactly_the_one_named():
    assert counter_sum(PROM, "http_requests_total") == 200
    assert counter_sum(PROM, 'http_requests_total{code="500"}') == 30
    assert counter_sum(PROM, "http_requests_errors_total") == 30
    assert counter_sum("", "http_requests_total") == 0 and counter_sum(None, "x") == 0


def test_error_rate_of_the_step_is_its_own_delta():
    after = PROM.replace("170", "340").replace(" 30", " 60")
    seen = step_error_rate(0.05, metrics=(PROM, after))
    assert seen == {"error_rate": 0.15, "breached": True,
                    "detail": "30 errors of 200 requests during the step (http_requests_errors_total / http_requests_total)"}
    assert step_error_rate(0.2, metrics=(PROM, after))["breached"] is False


def test_no_request_during_the_step_is_no_error():
    assert step_error_rate(0.01, metrics=(PROM, PROM))["error_rate"] == 0.0


def test_without_a_source_there_is_no_rate_and_no_breach():
    assert step_error_rate(0.0) == {"error_rate": None, "detail": "no error-rate source configured", "breached": False}


@pytest.mark.parametrize("document, rate", [
    ({"app": {"error_rate": 0.001}}, 0.001), ({"app": {}}, 1.0), ({"app": {"error_rate": "n/a"}}, 1.0),
    ({"app": {"error_rate": "NaN"}}, 1.0), (None, 1.0), ({"app": 3}, 1.0),
])
def test_a_json_document_that_stops_saying_fails_the_step(document, rate):
    seen = step_error_rate(0.01, json_document=document, json_path="app.error_rate", json_url="http://x/errors")
    assert seen["error_rate"] == rate and seen["breached"] is (rate > 0.01)
    assert seen["detail"].startswith("app.error_rate = ") and seen["detail"].endswith(" in http://x/errors")


def test_with_both_sources_the_higher_rate_counts():
    after = PROM.replace("170", "340").replace(" 30", " 60")
    seen = step_error_rate(0.5, metrics=(PROM, after), json_document={"error_rate": 0.2}, json_url="u")
    assert seen["error_rate"] == 0.2 and seen["detail"] == "error_rate = 0.2 in u"
    seen = step_error_rate(0.5, metrics=(PROM, after), json_document={"error_rate": 0.01}, json_url="u")
    assert seen["error_rate"] == 0.15
