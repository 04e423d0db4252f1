# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The post-switch observation window of release_observe: parse the clinic's request counters
(Prometheus text or JSON), turn two readings into an error rate, judge each sample against the
limits and the window as a whole, in the manner of an Argo Rollouts analysis run.

Everything here but ``Observer.run`` is a pure function of its arguments; ``Observer`` takes its
clock, sleep, scrape and probe functions from the caller so that the loop is tested without time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math

from ansible_collections.medops.runbook.plugins.module_utils.http_probe import excerpt, percentile
from ansible_collections.medops.runbook.plugins.module_utils.queue_http import HttpQueueError, dotted_get, parse_exposition

SUCCESSFUL = "successful"
FAILED = "failed"
INCONCLUSIVE = "inconclusive"
# A sample's state: it met the limits, it broke one, or it could not be measured.
OK = "ok"
BREACH = "breach"

STATUS_LABELS = ("code", "status", "status_code")


class MetricsError(ValueError):
    """A metrics answer that cannot be read; the message is meant for the user as is."""


def parse_prometheus(text):
    """The samples of a Prometheus text exposition, [(name, labels, value)], parsed by the queue
    backend's parser; a line that is not a sample raises MetricsError naming its number."""
    try:
        return parse_exposition(text or "")
    except HttpQueueError as exc:
        raise MetricsError(str(exc))


def _is_error_status(labels):
    for key in STATUS_LABELS:
        if key in labels:
            return labels[key].strip()[:1] == "5"
    return False


def counters_from_prometheus(text, requests_metric, errors_metric=None):
    """(requests, errors) read from Prometheus text.

    ``requests`` sums every sample of ``requests_metric``; ``errors`` is ``errors_metric`` (summed)
    when given and present, else the samples of ``requests_metric`` whose code label is 5xx.
    """
    samples = parse_prometheus(text)
    requests = [(labels, value) for name, labels, value in samples if name == requests_metric]
    if not requests:
        raise MetricsError("no %s samples in the metrics" % requests_metric)
    errors = [value for name, labels, value in samples if errors_metric and name == errors_metric]
    if errors:
        return sum(value for labels, value in requests), sum(errors)
    if not any(key in labels for labels, value in requests for key in STATUS_LABELS):
        raise MetricsError("no %s samples and no status code label on %s"
                           % (errors_metric or "error counter", requests_metric))
    return sum(value for labels, value in requests), sum(value for labels, value in requests if _is_error_status(labels))


def lookup(data, path):
    """The number at a dotted ``path`` of decoded JSON, or raise MetricsError."""
    node = dotted_get(data, path)
    if node is None:
        raise MetricsError("no %s in the JSON metrics" % path)
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise MetricsError("%s in the JSON metrics is not a number" % path)
    return float(node)


def counters_from_json(text, requests_path, errors_path):
    """(requests, errors) read from a JSON document at two dotted paths."""
    try:
        data = json.loads(text)
    except ValueError:
        raise MetricsError("the metrics answer is not JSON: %s" % excerpt(text, 60))
    return lookup(data, requests_path), lookup(data, errors_path)


def read_counters(text, content_type, options):
    """(requests, errors) from a metrics answer in the configured (or detected) format."""
    fmt = options.get("format") or "auto"
    if fmt == "auto":
        looks_json = "json" in (content_type or "") or (text or "").lstrip()[:1] in ("{", "[")
        fmt = "json" if looks_json else "prometheus"
    if fmt == "json":
        counters = counters_from_json(text, options["json_requests_path"], options["json_errors_path"])
    else:
        counters = counters_from_prometheus(text, options["requests_metric"], options.get("errors_metric"))
    if any(math.isnan(value) or math.isinf(value) or value < 0 for value in counters):
        raise MetricsError("the request counters read %s and %s, not counts" % counters)
    return counters


def counter_delta(before, after):
    """The increase of a counter between two readings; a drop means it was reset (the service
    restarted), and then, as Prometheus' rate() does, the new reading is the increase."""
    return after - before if after >= before else after


def error_rate(before, after, min_requests=1):
    """(rate, requests, errors) between two (requests, errors) readings; rate is None when fewer
    than ``min_requests`` requests were answered (nothing to judge)."""
    requests = counter_delta(before[0], after[0])
    errors = min(counter_delta(before[1], after[1]), requests)
    if requests < max(min_requests, 1):
        return None, requests, errors
    return errors / requests, requests, errors


def judge_sample(rate, latencies_ms, unmeasured, limits):
    """A sample's (state, reasons): ``breach`` when the error rate or the probes' p95 is over its
    limit or a probe answered badly, ``inconclusive`` when something could not be measured and
    nothing breached, else ``ok``.

    ``latencies_ms`` are the latencies of the probes that answered healthy; ``unmeasured`` lists
    why the rest of the sample could not be measured; ``limits`` holds ``max_error_rate``,
    ``max_p95_ms`` (None: no latency limit) and ``probe_failures`` (bad probe answers).
    """
    reasons = []
    if rate is not None and rate > limits["max_error_rate"]:
        reasons.append("error rate %s over %s" % (percent(rate), percent(limits["max_error_rate"])))
    p95 = percentile(latencies_ms, 0.95)
    if limits.get("max_p95_ms") is not None and p95 is not None and p95 > limits["max_p95_ms"]:
        reasons.append("health p95 %.0f ms over %.0f ms" % (p95, limits["max_p95_ms"]))
    reasons.extend(limits.get("probe_failures") or [])
    if reasons:
        return BREACH, reasons
    if unmeasured:
        return INCONCLUSIVE, list(unmeasured)
    return OK, []


def verdict(samples, failure_limit, inconclusive_limit, finished):
    """The window's phase after ``samples`` (each a dict with ``state``), as Argo Rollouts judges
    an analysis run: failed once the breaches exceed ``failure_limit``, inconclusive once the
    unmeasured samples exceed ``inconclusive_limit``, successful when the window is ``finished``
    without either, else None (keep watching)."""
    breaches = sum(1 for s in samples if s["state"] == BREACH)
    unmeasured = sum(1 for s in samples if s["state"] == INCONCLUSIVE)
    if breaches > failure_limit:
        return FAILED
    if unmeasured > inconclusive_limit:
        return INCONCLUSIVE
    if finished:
        return SUCCESSFUL if samples else INCONCLUSIVE
    return None


def percent(rate):
    return "n/a" if rate is None else "%.1f%%" % (rate * 100.0)


def summarise(samples, all_latencies_ms):
    """Totals over the window: the error rate of all the samples' counter increases together (a
    reset in between costs nothing), and the p95 of every healthy probe's latency."""
    measured = [s for s in samples if s.get("requests") is not None]
    requests = sum(s["requests"] for s in measured)
    errors = sum(s["errors"] for s in measured)
    rate = errors / requests if requests else None
    p95 = percentile(all_latencies_ms, 0.95)
    return dict(error_rate=None if rate is None else round(rate, 4), requests=int(requests), errors=int(errors),
                latency_p95_ms=None if p95 is None else round(p95, 1),
                breaches=sum(1 for s in samples if s["state"] == BREACH),
                inconclusive=sum(1 for s in samples if s["state"] == INCONCLUSIVE),
                samples=len(samples))


def message(phase, totals, limits, samples):
    """One line for the operator; the measured error rate comes first so that it survives truncation."""
    rate = "error rate %s (%d of %d requests answered 5xx)" % (percent(totals["error_rate"]), totals["errors"], totals["requests"])
    latency = "health p95 %s" % ("n/a" if totals["latency_p95_ms"] is None else "%.0f ms" % totals["latency_p95_ms"])
    limit = "limits: error rate %s, p95 %s" % (percent(limits["max_error_rate"]),
                                               "none" if limits.get("max_p95_ms") is None else "%.0f ms" % limits["max_p95_ms"])
    last = next((s for s in reversed(samples) if s["state"] != OK), None)
    why = ("; last: %s" % "; ".join(last["reasons"])) if last else ""
    if phase == FAILED:
        head = "observation window failed: %s, %s; %d of %d samples breached (failure_limit %d)" % (
            rate, latency, totals["breaches"], totals["samples"], limits["failure_limit"])
    elif phase == INCONCLUSIVE:
        head = "observation window inconclusive: %s, %s; %d of %d samples could not be measured (inconclusive_limit %d)" % (
            rate, latency, totals["inconclusive"], totals["samples"], limits["inconclusive_limit"])
    else:
        head = "observation window passed: %s, %s over %d samples" % (rate, latency, totals["samples"])
    return excerpt("%s; %s%s" % (head, limit, why), 400)


class Observer(object):
    """The sampling loop: a baseline reading, then one sample per ``interval`` until ``duration``
    has passed or the verdict is known early.

    ``scrape()`` returns (requests, errors) or raises MetricsError; ``probe()`` returns
    (latency_seconds, problem) where problem is None for a healthy answer, ``("unmeasured", why)``
    when nothing answered in time, or ``("breach", why)`` for a bad answer.
    """

    def __init__(self, limits, scrape, probe, clock, sleep):
        self.limits = limits
        self.scrape = scrape
        self.probe = probe
        self.clock = clock
        self.sleep = sleep

    def _read(self):
        try:
            return self.scrape(), None
        except MetricsError as exc:
            return None, str(exc)

    def run(self):
        limits = self.limits
        started = self.clock()
        samples, latencies = [], []
        previous = self._read()[0]
        phase = None
        index = 0
        while phase is None:
            # The next tick of the interval grid; ticks missed while a slow sample ran are skipped,
            # so that samples never follow each other back to back with nothing counted between.
            now = self.clock()
            index = max(index + 1, int((now - started) // limits["interval"]) + 1)
            self.sleep(max(0.0, started + index * limits["interval"] - now))
            unmeasured, failures, window = [], [], []
            for dummy in range(limits["probes"] if self.probe else 0):
                seconds, trouble = self.probe()
                if trouble is None:
                    window.append(seconds * 1000.0)
                elif trouble[0] == BREACH:
                    failures.append(trouble[1])
                else:
                    unmeasured.append(trouble[1])
            latencies.extend(window)
            reading, problem = self._read()
            rate, requests, errors = None, None, None
            if reading is None:
                unmeasured.append("metrics: %s" % problem)
            elif previous is None:
                unmeasured.append("metrics: no earlier reading to compare with")
            else:
                rate, requests, errors = error_rate(previous, reading, limits["min_requests"])
                if rate is None:
                    unmeasured.append("metrics: %d requests answered, fewer than min_requests %d" % (requests, limits["min_requests"]))
            if reading is not None:
                previous = reading
            state, reasons = judge_sample(rate, window, unmeasured, dict(limits, probe_failures=failures))
            samples.append(dict(state=state, reasons=[excerpt(r, 160) for r in reasons],
                                error_rate=None if rate is None else round(rate, 4),
                                requests=None if requests is None else int(requests),
                                errors=None if errors is None else int(errors),
                                latency_p95_ms=None if not window else round(percentile(window, 0.95), 1)))
            finished = self.clock() - started >= limits["duration"] - 1e-6
            phase = verdict(samples, limits["failure_limit"], limits["inconclusive_limit"], finished)
        totals = summarise(samples, latencies)
        return dict(phase=phase, totals=totals, samples=samples, elapsed=round(self.clock() - started, 2),
                    msg=message(phase, totals, limits, samples))
