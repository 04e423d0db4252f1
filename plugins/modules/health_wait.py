#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: health_wait
short_description: Wait until HTTP(S) health endpoints answer healthy
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.attributes.check_full
  - medops.runbook.http_client
description:
  - "Polls one or more HTTP(S) endpoints inside one module run until each has answered healthy
    O(success_threshold) times in a row, or gives up after O(wait_timeout) seconds (or earlier on
    O(failure_threshold) consecutive hard failures). Replaces an M(ansible.builtin.uri) C(until)/C(retries)
    loop: probes start on a fixed cadence, so a service that turns healthy is seen within one O(interval)."
  - "An answer is healthy when its status code is in O(status_codes), every O(json_checks) condition holds,
    and O(body_regex) (when given) matches the body."
  - "Without O(json_checks), a JSON body is also judged by itself (O(interpret_body)): an overall C(status)
    (or C(state), C(health), C(healthy), C(ready)) that is unhealthy (fail, down, unhealthy, error, starting, ...)
    fails the probe, and so does any per-check state that is unhealthy. Degraded states (degraded, warn)
    fail it too unless O(allow_degraded=true). Unknown status words are ignored: the status code decides."
  - "Understood body shapes: C(status) ok/healthy/pass/UP/degraded/fail; C(application/health+json)
    (pass/warn/fail with C(checks) of lists); C(checks) (or C(components), C(services), C(dependencies))
    as a map of name to state (a string, a boolean or an object with C(status)) or as a list of
    C({name, status}); C(degraded_services) lists; C(ready) true/false."
  - Once an endpoint has reached its threshold it is not probed again.
  - A connection refused, an unknown host or a TLS verification error is a hard failure; a timeout or an
    unhealthy answer is not.
  - "Response bodies stay inside the module unless O(return_body=true): health and error pages can carry
    patient data, and a result ends up in logs, C(-vvv) output, deployment records and notifications.
    Without it the result names status codes, check names and states, and the conditions that failed."
  - Never reports changed. In check mode the probes still run (they change nothing) and the result says so.
author:
  - medops.runbook contributors (@medops-runbook)
options:
  url:
    description: The endpoint to probe. Mutually exclusive with O(urls).
    type: str
  urls:
    description:
      - Several endpoints; all must become healthy. Each item is a URL, or a dict with C(url) and any of
        C(name), C(method), C(headers) (merged over O(headers)), C(body), C(body_format), C(status_codes),
        C(json_checks), C(body_regex), C(allow_degraded), C(interpret_body), C(success_threshold) that
        override the module-wide options for that endpoint.
      - "C(confirm: true) makes an endpoint a confirmation: it is probed once, after every other endpoint is
        healthy, and that answer is final. For a question waiting cannot change, such as whether a service that
        came up healthy runs the expected version (C(json_checks) on its version endpoint): a wrong answer fails
        at once instead of at O(wait_timeout)."
    type: list
    elements: raw
  method:
    description: HTTP method.
    type: str
    default: GET
    choices: [GET, HEAD, POST, PUT, PATCH, OPTIONS]
  headers:
    description: Request headers. Put tokens in O(bearer_token), not here, so that they are never logged.
    type: dict
    default: {}
  body:
    description: Request body; a string, or any data with O(body_format=json).
    type: raw
  body_format:
    description: V(json) serialises O(body) as JSON and sets C(Content-Type) unless given.
    type: str
    default: raw
    choices: [raw, json]
  status_codes:
    description: Status codes that count as healthy.
    type: list
    elements: int
    default: [200]
  json_checks:
    description:
      - Conditions on the JSON body, all of which must hold. Each is a dict with C(path) (dotted, e.g.
        C(checks.database); list items by index, keys that contain dots such as C(ocr.label) are matched
        whole) and exactly one operator among C(equals), C(not_equals), C(is), C(in), C(not_in) (a list),
        C(exists) (true or false); or a string such as C(status == healthy), C(checks.db != down),
        C(version === 1.10.0), C(status in [ok, pass]), C(ready exists).
      - C(equals), C(not_equals), C(in) and C(not_in) are loose, for health words (strings compare
        case-insensitively, C(true) equals a JSON C(true), C(1) equals C(1.0)).
      - C(is) (shorthand C(===)) is strict, for identities such as versions (C(1.10) is not C(1.1)); a
        JSON string matches only the same text, a number or boolean only the same JSON value.
      - When given, the built-in body judgement (O(interpret_body)) is not applied.
    type: list
    elements: raw
    default: []
  body_regex:
    description: A regular expression that must match (search) the body.
    type: str
  interpret_body:
    description: Judge a JSON body by its recognised status words when O(json_checks) is empty.
    type: bool
    default: true
  allow_degraded:
    description: Count degraded or warn states as healthy in the built-in body judgement.
    type: bool
    default: false
  success_threshold:
    description: Consecutive healthy answers each endpoint must give.
    type: int
    default: 1
  failure_threshold:
    description:
      - Give up early after this many consecutive hard failures (connection refused, unknown host, TLS
        verification) of one endpoint. V(0) or unset never gives up early.
    type: int
  timeout:
    description: Seconds to wait for one answer (connect and read).
    type: float
    default: 5
  wait_timeout:
    description: Seconds to keep trying overall. V(0) probes once.
    type: float
    default: 60
  interval:
    description: Seconds between the starts of two probe rounds.
    type: float
    default: 2
  backoff:
    description: Factor by which the interval grows after each round (V(1) keeps it fixed).
    type: float
    default: 1
  max_interval:
    description: Upper bound of the interval when O(backoff) makes it grow.
    type: float
  return_body:
    description:
      - Return the last response body (RV(body), its first 4096 characters) and its parsed JSON (RV(json)),
        overall and per endpoint, and quote up to 200 characters of it in a failure message.
      - Leave it off wherever the result is logged or recorded.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Wait for the API after the switch (three healthy answers in a row)
  medops.runbook.health_wait:
    url: https://api.clinic.example.org/health
    success_threshold: 3
    interval: 2
    wait_timeout: 150
    failure_threshold: 10

- name: Readiness with explicit conditions and a bearer token
  medops.runbook.health_wait:
    url: https://api.clinic.example.org/health/ready
    bearer_token: "{{ vault_health_token }}"
    json_checks:
      - ready == true
      - path: checks.database
        in: [ok, healthy]
    ca_path: /etc/ssl/clinic-ca.pem

- name: Several endpoints, one of which may answer 503 while degraded
  medops.runbook.health_wait:
    urls:
      - https://api.clinic.example.org/health/live
      - url: https://api.clinic.example.org/health
        status_codes: [200, 503]
        allow_degraded: true
    wait_timeout: 60

- name: Read the version a service reports (its body is returned only because it is asked for)
  medops.runbook.health_wait:
    url: https://api.clinic.example.org/api/version
    wait_timeout: 0
    return_body: true
  register: version_answer
"""

RETURN = r"""
healthy:
  description: Whether every endpoint became healthy.
  returned: always
  type: bool
attempts:
  description: Probes sent, all endpoints together.
  returned: always
  type: int
elapsed:
  description: Seconds spent.
  returned: always
  type: float
status:
  description: Last status code of the first endpoint that is not healthy (of the last endpoint when all are); null without an HTTP answer.
  returned: always
  type: int
json:
  description: Last JSON body of that endpoint (null when it is not JSON).
  returned: when O(return_body=true)
  type: raw
body:
  description: Start of that endpoint's last body (4096 characters at most).
  returned: when O(return_body=true)
  type: str
checks:
  description: Per-check states found in that endpoint's last body (name to state).
  returned: always
  type: dict
degraded:
  description: Names of checks, over all endpoints, whose state is degraded or unhealthy.
  returned: always
  type: list
  elements: str
latency_ms:
  description: Probe latency over all probes, in milliseconds (C(p50), C(p95), C(max)).
  returned: always
  type: dict
endpoints:
  description:
    - One entry per endpoint with C(name), C(url), C(healthy), C(attempts), C(consecutive_successes), C(status),
      C(error), C(overall), C(checks), C(degraded), C(failures) and C(latency_ms); C(json) and C(body) too
      with O(return_body=true).
  returned: always
  type: list
  elements: dict
check_mode:
  description: True when the probes ran in check mode.
  returned: always
  type: bool
msg:
  description:
    - Why the wait failed (endpoint, last status, the condition that did not hold), or a note in check mode.
    - With O(return_body=true) it also quotes the body, 200 characters at most.
  returned: when failed or in check mode
  type: str
"""

import gc

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medops.runbook.plugins.module_utils.http_probe import (
    ProbeConfigError, Prober, Waiter, build_endpoints, http_client_argument_spec, http_client_module_kwargs)


def argument_spec():
    spec = dict(
        url=dict(type="str"),
        urls=dict(type="list", elements="raw"),
        method=dict(type="str", default="GET", choices=["GET", "HEAD", "POST", "PUT", "PATCH", "OPTIONS"]),
        headers=dict(type="dict", default={}),
        body=dict(type="raw"),
        body_format=dict(type="str", default="raw", choices=["raw", "json"]),
        status_codes=dict(type="list", elements="int", default=[200]),
        json_checks=dict(type="list", elements="raw", default=[]),
        body_regex=dict(type="str"),
        interpret_body=dict(type="bool", default=True),
        allow_degraded=dict(type="bool", default=False),
        success_threshold=dict(type="int", default=1),
        failure_threshold=dict(type="int"),
        timeout=dict(type="float", default=5),
        wait_timeout=dict(type="float", default=60),
        interval=dict(type="float", default=2),
        backoff=dict(type="float", default=1),
        max_interval=dict(type="float"),
        return_body=dict(type="bool", default=False),
    )
    spec.update(http_client_argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **http_client_module_kwargs(
        mutually_exclusive=[("url", "urls")], required_one_of=[("url", "urls")]))
    try:
        endpoints = build_endpoints(module.params)
        prober = Prober(module.params)
    except ProbeConfigError as exc:
        module.fail_json(msg=str(exc), changed=False, healthy=False)
    result = Waiter(endpoints, module.params, prober).run()
    result.update(changed=False, check_mode=module.check_mode)
    # The interpreter's last collection at exit walks every object Ansible imported (0.1-0.3 s);
    # nothing needs collecting once the result is known, so skip it and let the task return sooner.
    gc.freeze()
    if not result["healthy"]:
        module.fail_json(**result)
    if module.check_mode:
        result["msg"] = "check mode: probes were sent (they change nothing); all endpoints are healthy"
    module.exit_json(**result)


if __name__ == "__main__":
    main()
