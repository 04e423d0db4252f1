#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_observe
short_description: Watch a service's error rate and health latency for a while after a release went live
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.http_client
description:
  - "Runs an observation window inside one module run, in the manner of an Argo Rollouts analysis: a first reading
    of the service's request counters, then one sample every O(interval) seconds for O(duration) seconds."
  - "Each sample reads the counters again from O(metrics_url) (Prometheus text or JSON) and computes the error rate
    of the requests answered since the previous reading (5xx answers over all answers; a counter that drops, because
    the service restarted, counts from zero), and sends O(probes) probes to O(health_url) and takes their p95 latency."
  - "A sample breaches when its error rate is over O(max_error_rate), its probes' p95 is over O(max_p95_ms), or a probe
    got an unhealthy answer or a refused connection. It is inconclusive when nothing breached but something could not
    be measured: the metrics did not answer or could not be read, fewer than O(min_requests) requests were answered,
    or a probe timed out."
  - "The window fails as soon as the breaches exceed O(failure_limit), and is inconclusive as soon as the inconclusive
    samples exceed O(inconclusive_limit) (so V(0) stops at the first one, as Argo's C(failureLimit) and
    C(inconclusiveLimit)); otherwise it succeeds when O(duration) has passed."
  - "A failed window fails the task. An inconclusive one fails it too, with the word C(inconclusive) in the message,
    unless O(on_inconclusive=continue)."
  - "Response bodies never leave the module: the result holds counts, rates, latencies and short reasons only."
  - Never reports changed. In check mode nothing is sampled (nothing was released to watch) and the result says so.
author:
  - medops.runbook contributors (@medops-runbook)
options:
  metrics_url:
    description: URL of the service's request counters (Prometheus text such as C(/metrics), or a JSON document).
    type: str
    required: true
  metrics_format:
    description: Format of the metrics answer; V(auto) takes JSON when the content type or the body says so.
    type: str
    default: auto
    choices: [auto, prometheus, json]
  requests_metric:
    description: Prometheus counter of the requests answered, summed over its labels.
    type: str
    default: http_requests_total
  errors_metric:
    description:
      - Prometheus counter of the requests answered with an error. When the answer has none, the samples of
        O(requests_metric) with a 5xx C(code) (or C(status), C(status_code)) label are the errors.
    type: str
    default: http_requests_errors_total
  json_requests_path:
    description: Dotted path of the requests counter in a JSON metrics answer.
    type: str
    default: requests.total
  json_errors_path:
    description: Dotted path of the errors counter in a JSON metrics answer.
    type: str
    default: requests.errors
  health_url:
    description: Endpoint whose latency is measured; without it only the error rate is watched.
    type: str
  health_status_codes:
    description: Status codes of a healthy O(health_url) answer (a JSON body is judged as M(medops.runbook.health_wait) does).
    type: list
    elements: int
    default: [200]
  probes:
    description: Probes sent to O(health_url) per sample.
    type: int
    default: 3
  duration:
    description: Seconds to watch.
    type: float
    required: true
  interval:
    description: Seconds between two samples, at most O(duration); unset, 10 or O(duration) when that is shorter.
    type: float
  max_error_rate:
    description: Highest error rate a sample may have, as a fraction (V(0.05) is 5 %).
    type: float
    default: 0.05
  max_p95_ms:
    description: Highest p95 latency of a sample's health probes, in milliseconds; unset means no latency limit.
    type: float
  min_requests:
    description: Requests a sample must see for its error rate to count; with fewer the sample is inconclusive.
    type: int
    default: 1
  failure_limit:
    description: Breaching samples tolerated; one more fails the window.
    type: int
    default: 0
  inconclusive_limit:
    description: Samples that could not be measured tolerated; one more makes the window inconclusive.
    type: int
    default: 0
  on_inconclusive:
    description: V(fail) fails the task on an inconclusive window; V(continue) returns it with a warning.
    type: str
    default: fail
    choices: [fail, continue]
  timeout:
    description: Seconds to wait for one answer (metrics or probe).
    type: float
    default: 5
attributes:
  check_mode:
    support: full
    details: Samples nothing and returns at once with RV(phase=skipped).
  diff_mode:
    support: none
notes:
  - The TLS and authentication options apply to O(metrics_url) and O(health_url) alike.
"""

EXAMPLES = r"""
- name: Watch the clinic for five minutes after the switch
  medops.runbook.release_observe:
    metrics_url: https://api.clinic.example.org/metrics
    health_url: https://api.clinic.example.org/health/ready
    duration: 300
    interval: 15
    max_error_rate: 0.02
    max_p95_ms: 800
    failure_limit: 1
    inconclusive_limit: 2

- name: A JSON metrics endpoint behind a token; an unmeasurable window only warns
  medops.runbook.release_observe:
    metrics_url: https://api.clinic.example.org/internal/stats
    metrics_format: json
    json_requests_path: http.requests
    json_errors_path: http.errors_5xx
    bearer_token: "{{ vault_metrics_token }}"
    duration: 120
    on_inconclusive: continue
  register: observation
"""

RETURN = r"""
phase:
  description: V(successful), V(failed), V(inconclusive), or V(skipped) in check mode.
  returned: always
  type: str
error_rate:
  description: Error rate over the whole window (5xx answers over all answers), a fraction; null when nothing was counted.
  returned: always
  type: float
requests:
  description: Requests answered during the window.
  returned: always
  type: int
errors:
  description: Of those, the ones answered with an error.
  returned: always
  type: int
latency_p95_ms:
  description: p95 latency of every healthy probe of the window, in milliseconds; null without probes.
  returned: always
  type: float
breaches:
  description: Samples that breached a limit.
  returned: always
  type: int
inconclusive:
  description: Samples that could not be measured.
  returned: always
  type: int
sample_count:
  description: Samples taken (the first reading is not one).
  returned: always
  type: int
samples:
  description:
    - One entry per sample with C(state) (ok, breach, inconclusive), C(error_rate), C(requests), C(errors),
      C(latency_p95_ms) and C(reasons) (short, no response body).
  returned: always
  type: list
  elements: dict
elapsed:
  description: Seconds spent watching.
  returned: always
  type: float
check_mode:
  description: True when the module ran in check mode (and sampled nothing).
  returned: always
  type: bool
msg:
  description: The verdict in one line, the measured error rate first, then the p95 latency, the limits and the last reason.
  returned: always
  type: str
"""

import gc
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medops.runbook.plugins.module_utils.health_body import evaluate
from ansible_collections.medops.runbook.plugins.module_utils.http_probe import (
    ProbeConfigError, Prober, build_endpoints, http_client_argument_spec, http_client_module_kwargs)
from ansible_collections.medops.runbook.plugins.module_utils.observe_window import (
    BREACH, INCONCLUSIVE, MetricsError, Observer, read_counters)


def argument_spec():
    spec = dict(
        metrics_url=dict(type="str", required=True),
        metrics_format=dict(type="str", default="auto", choices=["auto", "prometheus", "json"]),
        requests_metric=dict(type="str", default="http_requests_total"),
        errors_metric=dict(type="str", default="http_requests_errors_total"),
        json_requests_path=dict(type="str", default="requests.total"),
        json_errors_path=dict(type="str", default="requests.errors"),
        health_url=dict(type="str"),
        health_status_codes=dict(type="list", elements="int", default=[200]),
        probes=dict(type="int", default=3),
        duration=dict(type="float", required=True),
        interval=dict(type="float"),
        max_error_rate=dict(type="float", default=0.05),
        max_p95_ms=dict(type="float"),
        min_requests=dict(type="int", default=1),
        failure_limit=dict(type="int", default=0),
        inconclusive_limit=dict(type="int", default=0),
        on_inconclusive=dict(type="str", default="fail", choices=["fail", "continue"]),
        timeout=dict(type="float", default=5),
    )
    spec.update(http_client_argument_spec())
    return spec


def check_limits(params):
    """The window's numbers, validated; raises ProbeConfigError with a message for the user."""
    if params["duration"] <= 0:
        raise ProbeConfigError("duration must be greater than 0 (got %s)" % params["duration"])
    if params["interval"] is None:
        params["interval"] = min(10.0, params["duration"])
    if not 0 < params["interval"] <= params["duration"]:
        raise ProbeConfigError("interval must be greater than 0 and at most duration %s (got %s)" % (params["duration"], params["interval"]))
    if not 0 <= params["max_error_rate"] <= 1:
        raise ProbeConfigError("max_error_rate is a fraction from 0 to 1, e.g. 0.05 for 5 %% (got %s)" % params["max_error_rate"])
    if params["max_p95_ms"] is not None and params["max_p95_ms"] <= 0:
        raise ProbeConfigError("max_p95_ms must be greater than 0 (got %s)" % params["max_p95_ms"])
    for name in ("probes", "min_requests", "failure_limit", "inconclusive_limit"):
        if params[name] < 0:
            raise ProbeConfigError("%s must be 0 or more (got %s)" % (name, params[name]))
    if params["timeout"] <= 0:
        raise ProbeConfigError("timeout must be greater than 0 (got %s)" % params["timeout"])
    return dict((name, params[name]) for name in ("duration", "interval", "max_error_rate", "max_p95_ms", "min_requests",
                                                  "failure_limit", "inconclusive_limit", "probes"))


def endpoint(params, url, codes, where):
    """A probe endpoint built (and validated) the way health_wait builds one."""
    probe_params = dict(url=url, urls=None, method="GET", headers={}, body=None, body_format="raw", status_codes=codes,
                        json_checks=[], body_regex=None, interpret_body=True, allow_degraded=False, success_threshold=1,
                        failure_threshold=None, timeout=params["timeout"], wait_timeout=0, interval=1, backoff=1,
                        max_interval=None)
    probe_params.update((name, params[name]) for name in http_client_argument_spec())
    try:
        return build_endpoints(probe_params)[0]
    except ProbeConfigError as exc:
        raise ProbeConfigError(str(exc).replace("url:", "%s:" % where, 1))


def make_scrape(prober, metrics, params):
    options = dict(format=params["metrics_format"], requests_metric=params["requests_metric"],
                   errors_metric=params["errors_metric"], json_requests_path=params["json_requests_path"],
                   json_errors_path=params["json_errors_path"])

    def scrape():
        answer = prober.probe(metrics, params["timeout"])
        if answer.error:
            raise MetricsError(answer.error)
        if not 200 <= answer.status < 300:
            raise MetricsError("HTTP %d" % answer.status)
        return read_counters(answer.body, answer.content_type, options)
    return scrape


def make_probe(prober, health, params):
    def probe():
        answer = prober.probe(health, params["timeout"])
        if answer.error:
            # A refused connection is the service being down: a breach. A timeout measured nothing.
            return answer.latency, ((BREACH if answer.hard else INCONCLUSIVE), "health: %s" % answer.error)
        judged = evaluate(answer.status, answer.body, answer.content_type, health["expect"])
        if not judged["healthy"]:
            return answer.latency, (BREACH, "health: %s" % "; ".join(judged["failures"]))
        return answer.latency, None
    return probe


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **http_client_module_kwargs())
    params = module.params
    try:
        limits = check_limits(params)
        metrics = endpoint(params, params["metrics_url"], [200], "metrics_url")
        health = endpoint(params, params["health_url"], params["health_status_codes"], "health_url") if params["health_url"] else None
        prober = Prober(params)
    except ProbeConfigError as exc:
        module.fail_json(msg=str(exc), changed=False)
    if module.check_mode:
        module.exit_json(changed=False, check_mode=True, phase="skipped", error_rate=None, requests=0, errors=0,
                         latency_p95_ms=None, breaches=0, inconclusive=0, sample_count=0, samples=[], elapsed=0.0,
                         msg="check mode: nothing was sampled (nothing was released to watch)")
    observer = Observer(limits, make_scrape(prober, metrics, params), make_probe(prober, health, params) if health else None,
                        time.monotonic, time.sleep)
    run = observer.run()
    totals = run["totals"]
    result = dict(changed=False, check_mode=False, phase=run["phase"], error_rate=totals["error_rate"],
                  requests=totals["requests"], errors=totals["errors"], latency_p95_ms=totals["latency_p95_ms"],
                  breaches=totals["breaches"], inconclusive=totals["inconclusive"], sample_count=totals["samples"],
                  samples=run["samples"], elapsed=run["elapsed"], msg=run["msg"])
    gc.freeze()  # as in health_wait: skip the interpreter's last collection at exit
    if run["phase"] == "failed" or (run["phase"] == INCONCLUSIVE and params["on_inconclusive"] == "fail"):
        module.fail_json(**result)
    if run["phase"] == INCONCLUSIVE:
        module.warn(run["msg"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
