#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: smoke_test
short_description: Run a list of HTTP smoke tests and report each one
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.http_client
description:
  - "Sends each test of O(tests) once, in order, and judges its answer: the status code, JSON-path
    conditions on the body, headers that must be present, equal a value or match a regular expression."
  - Every test is sent even when an earlier one failed; the result lists each test with what did not hold.
  - JSON conditions use the same paths and operators as the C(json_checks) option of M(medops.runbook.health_wait).
  - "Response bodies never leave the module: a failed JSON condition quotes at most 60 characters of
    the value found, and a failed header condition the header's value, shortened the same way.
    Request header values whose names look secret (Authorization, cookies, keys, tokens), top-level JSON
    body fields named so (password, token) and tokens read from a C(token_file) are never returned."
  - Never reports changed. Fails when a test fails, with a message naming each failed test.
author:
  - medops.runbook contributors (@medops-runbook)
options:
  tests:
    description:
      - The smoke tests. Each is a dict with the keys below.
      - "C(name): what the test proves, used in messages."
      - "C(path): a path starting with C(/), called on O(base_url); or C(url): a whole URL."
      - "C(method): V(GET) (default), V(HEAD), V(POST), V(PUT), V(PATCH) or V(OPTIONS)."
      - "C(status): the expected status code, or a list of them (default 200)."
      - "C(headers): request headers (for example C(Authorization))."
      - "C(body): the request body; data other than a string is sent as JSON (C(body_format) V(json))."
      - "C(token_file): a file on the target host whose first line is sent as C(Authorization: Bearer ...)."
      - "C(json): conditions on the JSON body, each a dict with C(path) and one of C(equals), C(not_equals),
        C(is), C(in), C(not_in), C(exists), or a string such as C(version === 1.1.0)."
      - "C(headers_present): names of headers the answer must have."
      - "C(headers_equal): header name to the exact value it must have."
      - "C(headers_match): header name to a regular expression its value must match (search)."
    type: list
    elements: dict
    required: true
  base_url:
    description: Base URL the tests' C(path) is appended to.
    type: str
  timeout:
    description: Seconds to wait for one answer.
    type: float
    default: 10
attributes:
  check_mode:
    support: full
    details: In check mode no request is sent (a test may POST); every test is reported as not run.
  diff_mode:
    support: none
"""

EXAMPLES = r"""
- name: The smoke tests of seed 004
  medops.runbook.smoke_test:
    base_url: https://api.clinic.example.org
    tests:
      - name: unauthenticated API call is refused
        path: /api/patients
        status: 401
      - name: authenticated API call works
        path: /api/patients
        token_file: /etc/clinic/smoke-token
      - name: the API serves this clinic
        path: /api/version
        json:
          - path: clinic
            equals: kin
        headers_equal:
          Content-Type: application/json
        headers_match:
          X-RateLimit-Limit: '^[0-9]+$'
      - name: login answers a token
        path: /api/login
        method: POST
        body:
          user: smoke
        json:
          - token exists
  register: smoke
  no_log: true
"""

RETURN = r"""
passed:
  description: Whether every test passed (true in check mode, where none is sent).
  returned: always
  type: bool
results:
  description: One entry per test with C(name), C(method), C(path) (no query), C(status) (null without an answer), C(passed) and C(failures).
  returned: always
  type: list
  elements: dict
failed_tests:
  description: Names of the tests that failed.
  returned: always
  type: list
  elements: str
msg:
  description: One line per failed test (its name, method, path and what did not hold), or how many passed.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medops.runbook.plugins.module_utils.http_probe import (
    ProbeConfigError, Prober, http_client_argument_spec, http_client_module_kwargs)
from ansible_collections.medops.runbook.plugins.module_utils.smoke import SmokeSpecError, parse_tests, result, run, secret_values, summary


def argument_spec():
    spec = dict(
        tests=dict(type="list", elements="dict", required=True),
        base_url=dict(type="str"),
        timeout=dict(type="float", default=10),
    )
    spec.update(http_client_argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **http_client_module_kwargs())
    params = module.params
    try:
        tests = parse_tests(params["tests"], params["base_url"])
        if params["timeout"] <= 0:
            raise SmokeSpecError("timeout must be greater than 0 (got %s)" % params["timeout"])
        for test in tests:
            module.no_log_values.update(secret_values(test))
            if params["bearer_token"]:
                test["headers"].setdefault("Authorization", "Bearer %s" % params["bearer_token"])
        prober = Prober(params)
    except (SmokeSpecError, ProbeConfigError) as exc:
        module.fail_json(msg=str(exc), changed=False, passed=False, results=[], failed_tests=[])

    if module.check_mode:
        results = [result(test, None, []) for test in tests]
        module.exit_json(changed=False, passed=True, results=results, failed_tests=[],
                         msg="check mode: %d smoke test(s) not sent" % len(tests))

    def reader(path):
        with open(path) as handle:
            text = handle.read()
        for line in text.splitlines():
            if line.strip():
                module.no_log_values.add(line.strip())
        return text

    results = run(tests, prober, params["timeout"], reader)
    failed = [r["name"] for r in results if not r["passed"]]
    outcome = dict(changed=False, passed=not failed, results=results, failed_tests=failed, msg=summary(results))
    if failed:
        module.fail_json(**outcome)
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
