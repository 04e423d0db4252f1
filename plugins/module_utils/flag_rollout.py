# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The decisions of a gradual flag rollout (the flag_rollout role), apart from its tasks.

``plan``: from where the flag starts on a clinic, the steps still to run and how to put the flag
back on a breach. ``step_error_rate``: the error rate of one step, from two scrapes of Prometheus
counters and/or a JSON document, and whether it breaches the threshold. The filters
``medops.runbook.flag_rollout_plan`` and ``medops.runbook.flag_step_error_rate`` are these functions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

# One sample line of the Prometheus text format: name, optional {labels}, value, optional timestamp.
_SAMPLE = r"^%s%s\s+([-+0-9.eE]+|NaN)(?:\s+[0-9]+)?\s*$"


def plan(before, steps):
    """{steps, final, restore} for a flag that starts as ``before`` (feature_flag's exists/enabled/rollout).

    ``steps``: the percentages still to run. A flag already enabled is never set back to a lower
    step: users who see it would lose it. Steps at or below its rollout are done; an enabled flag
    without a rollout value is on for everyone, so nothing is left. ``final``: the rollout once they pass.
    ``restore``: feature_flag arguments that put the flag back where it started: absent when it did
    not exist, else its on/off state and its rollout value, or ``rollout_absent`` when it had none
    (the steps add one).
    """
    steps = [int(step) for step in steps]
    exists = bool(before.get("exists"))
    enabled = exists and bool(before.get("enabled"))
    rollout = before.get("rollout") if exists else None
    if not enabled:
        todo = steps
    elif rollout is None:
        todo = []
    else:
        todo = [step for step in steps if step > int(rollout)]
    if not exists:
        restore = {"state": "absent", "rollout_absent": False}
    else:
        restore = {"state": "enabled" if enabled else "disabled", "rollout_absent": rollout is None}
        if rollout is not None:
            restore["rollout"] = int(rollout)
    # where the flag ends when every step passes: an enabled flag without a rollout value is on for everyone
    final = todo[-1] if todo else (100 if rollout is None else int(rollout))
    return {"steps": todo, "final": final, "restore": restore}


def counter_sum(text, selector):
    """The sum of every sample of ``selector`` in Prometheus text; a selector with {labels} matches
    exactly that series, a bare name every series of the metric."""
    labels = "" if "{" in selector else r"(?:\{[^}]*\})?"
    pattern = re.compile(_SAMPLE % (re.escape(selector), labels), re.M)
    return sum(float(value) for value in pattern.findall(text or ""))


def _dotted(document, path):
    """The value at a dotted path of a JSON document, None when any part is missing."""
    value = document
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def step_error_rate(max_error_rate, metrics=None, error_metric="http_requests_errors_total",
                    total_metric="http_requests_total", json_document=None, json_path="error_rate", json_url=""):
    """{error_rate, detail, breached} of one step.

    ``metrics``: (text before the soak, text after it) of the Prometheus endpoint, or None when none
    is configured; the rate is Δerrors / Δrequests of the step (0 when no request was counted).
    ``json_url``: when set, ``json_document`` is what it answered and ``json_path`` the rate in it; a
    missing, non-numeric or NaN value counts as 1.0, so a document that stops saying fails the step. With both sources
    the higher rate counts. With neither, the rate is None and never breaches.
    """
    seen = {"error_rate": None, "detail": "no error-rate source configured"}
    if metrics is not None:
        before, after = metrics
        errors = counter_sum(after, error_metric) - counter_sum(before, error_metric)
        total = counter_sum(after, total_metric) - counter_sum(before, total_metric)
        seen = {"error_rate": round(errors / total, 6) if total > 0 else 0.0,
                "detail": "%d errors of %d requests during the step (%s / %s)" % (errors, total, error_metric, total_metric)}
    if json_url:
        value = _dotted(json_document, json_path)
        try:
            rate = float(value)
        except (TypeError, ValueError):
            rate = 1.0
        if math.isnan(rate):  # NaN compares false with every threshold
            rate = 1.0
        if seen["error_rate"] is None or rate > seen["error_rate"]:
            seen = {"error_rate": rate, "detail": "%s = %s in %s" % (json_path, value, json_url)}
    seen["breached"] = seen["error_rate"] is not None and seen["error_rate"] > float(max_error_rate)
    return seen
