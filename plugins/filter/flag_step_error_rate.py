# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: flag_step_error_rate
short_description: The error rate of one rollout step, and whether it breaches the threshold
version_added: "1.2.0"
description:
  - Prometheus counters read before and after a step's soak give C(Δerrors / Δrequests) of the step, each counter
    the sum of every series of the metric, or exactly one series when the name carries C({labels}). A JSON document
    can give the rate instead, or as well (the higher one counts); a missing or non-numeric value there counts as
    C(1.0). Used by the flag_rollout role.
author:
  - medops.runbook contributors (@medops-runbook)
positional: max_error_rate
options:
  _input:
    description:
      - What the step read, as registered by M(ansible.builtin.uri) - a dict with C(metrics_before) and C(metrics_after)
        (their C(content)) and C(error_json) (its C(json)). A skipped read is no source.
    type: dict
    required: true
  max_error_rate:
    description: The highest error rate the step may have.
    type: float
    required: true
  error_metric:
    description: The error counter, a name or C(name{labels}).
    type: str
    default: http_requests_errors_total
  total_metric:
    description: The request counter, a name or C(name{labels}).
    type: str
    default: http_requests_total
  json_path:
    description: Dotted path of the rate in the JSON document.
    type: str
    default: error_rate
  json_url:
    description: Where the JSON document came from (named in the detail).
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Work out the error rate of the step
  ansible.builtin.set_fact:
    seen: "{{ {'metrics_before': before, 'metrics_after': after, 'error_json': {'skipped': true}} | medops.runbook.flag_step_error_rate(0.01) }}"
"""

RETURN = r"""
_value:
  description: C(error_rate) (a float, or null without any source), C(detail) (the counts or the JSON value it came from) and C(breached).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.medops.runbook.plugins.module_utils.flag_rollout import step_error_rate


def _read(result):
    """A registered uri result, or None when that read was skipped (its source is not configured)."""
    return None if not isinstance(result, dict) or result.get("skipped") else result


def flag_step_error_rate(observed, max_error_rate, error_metric="http_requests_errors_total", total_metric="http_requests_total",
                         json_path="error_rate", json_url=""):
    if not isinstance(observed, dict):
        raise AnsibleFilterError("flag_step_error_rate expects a dict of the step's reads, got %s" % type(observed).__name__)
    before, after = _read(observed.get("metrics_before")), _read(observed.get("metrics_after"))
    metrics = (before.get("content", ""), after.get("content", "")) if before and after else None
    error_json = _read(observed.get("error_json"))
    try:
        return step_error_rate(float(max_error_rate), metrics, error_metric, total_metric,
                               error_json.get("json") if error_json else None, json_path, json_url if error_json else "")
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("flag_step_error_rate: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"flag_step_error_rate": flag_step_error_rate}
