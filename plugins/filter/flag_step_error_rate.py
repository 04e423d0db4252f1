# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The documentation of flag_step_error_rate is in flag_step_error_rate.yml beside this file.

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
