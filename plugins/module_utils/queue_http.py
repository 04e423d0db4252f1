# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Queues administered over HTTP: pause/resume URLs, counts from a JSON stats URL or from a
Prometheus metrics URL (text exposition format, parsed here: no client library needed)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import re

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote, urlsplit
from ansible.module_utils.urls import open_url
from ansible_collections.medops.runbook.plugins.module_utils.queue_common import QueueBackendError

COUNT_NAMES = ("waiting", "active", "delayed", "prioritized", "failed", "completed")
DEFAULT_STATS_PATHS = dict((name, name) for name in COUNT_NAMES + ("paused",))
MAX_BODY = 4 * 1024 * 1024
PLACEHOLDER = "{queue}"


class HttpQueueError(QueueBackendError):
    """A request or a body was not what the options promised; the message is for the user."""


# ---------------------------------------------------------------- Prometheus text format

_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"')
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


def _parse_labels(line, pos):
    """Labels from just after ``{``; returns (dict, position after ``}``)."""
    labels = {}
    while True:
        while pos < len(line) and line[pos] in " \t,":
            pos += 1
        if pos < len(line) and line[pos] == "}":
            return labels, pos + 1
        match = _LABEL_RE.match(line, pos)
        if not match:
            raise ValueError("bad label at column %d" % (pos + 1))
        pos = match.end()
        value = []
        while True:
            if pos >= len(line):
                raise ValueError("unterminated label value")
            char = line[pos]
            if char == "\\" and pos + 1 < len(line):
                value.append(_ESCAPES.get(line[pos + 1], "\\" + line[pos + 1]))
                pos += 2
            elif char == '"':
                pos += 1
                break
            else:
                value.append(char)
                pos += 1
        labels[match.group(1)] = "".join(value)


def parse_exposition(text):
    """[(metric name, labels, value)] of a Prometheus text exposition (version 0.0.4)."""
    samples = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            match = _NAME_RE.match(line)
            if not match:
                raise ValueError("no metric name")
            name, pos, labels = match.group(0), match.end(), {}
            while pos < len(line) and line[pos] in " \t":  # the format allows blanks between tokens
                pos += 1
            if pos < len(line) and line[pos] == "{":
                labels, pos = _parse_labels(line, pos + 1)
            fields = line[pos:].split()
            if not fields or len(fields) > 2:
                raise ValueError("expected a value and an optional timestamp")
            samples.append((name, labels, float(fields[0])))
        except ValueError as exc:
            raise HttpQueueError("metrics line %d is not Prometheus text format (%s): %s" % (number, exc, raw[:200]))
    return samples


def select_sum(samples, name, selector):
    """Sum of the samples of ``name`` whose labels include ``selector``; None when none match."""
    values = [value for sample_name, labels, value in samples
              if sample_name == name and all(labels.get(k) == v for k, v in selector.items())]
    if not values:
        return None
    total = sum(values)
    if math.isnan(total) or math.isinf(total):
        raise HttpQueueError("metric %s%s is %s, not a count" % (name, _fmt_selector(selector), total))
    return int(total) if total == int(total) else total


def _fmt_selector(selector):
    return "{%s}" % ",".join('%s="%s"' % kv for kv in sorted(selector.items())) if selector else ""


# ---------------------------------------------------------------- JSON stats

def dotted_get(data, path):
    """Value at ``a.b.0.c`` in parsed JSON, or None when a step is missing."""
    node = data
    for step in path.split("."):
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and step.lstrip("-").isdigit() and -len(node) <= int(step) < len(node):
            node = node[int(step)]
        else:
            return None
    return node


def as_count(value, where):
    if value is None:
        return None
    if isinstance(value, bool):
        raise HttpQueueError("%s is %r, not a count" % (where, value))
    if isinstance(value, (int, float)):
        return int(value) if float(value) == int(value) else value
    if isinstance(value, str) and re.match(r"^\s*\d+(\.\d+)?\s*$", value):
        return as_count(float(value), where)
    raise HttpQueueError("%s is %r, not a count" % (where, value))


def as_flag(value, where):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no", "paused", "running"):
        return value.strip().lower() in ("true", "1", "yes", "paused")
    raise HttpQueueError("%s is %r, not a paused flag (true/false)" % (where, value))


# ---------------------------------------------------------------- the backend

def check_url(url, option):
    if url is None:
        return
    parts = urlsplit(url.replace(PLACEHOLDER, "q"))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpQueueError("%s must be an http:// or https:// URL with a host" % option)


def validate(params, queues, state):
    """Option combinations the argument spec cannot express."""
    for option in ("pause_url", "resume_url", "stats_url", "metrics_url"):
        check_url(params.get(option), option)
    if state in ("paused", "drained") and not params.get("pause_url"):
        raise HttpQueueError("backend=http with state=%s needs pause_url" % state)
    if state == "resumed" and not params.get("resume_url"):
        raise HttpQueueError("backend=http with state=resumed needs resume_url")
    if params.get("metrics_url") and not params.get("metrics"):
        raise HttpQueueError("metrics_url needs metrics, the metric name of each count, e.g. {active: myapp_jobs_active}")
    if state == "drained":
        if params.get("metrics_url") and "active" not in (params.get("metrics") or {}):
            raise HttpQueueError("state=drained needs metrics.active, the gauge of running jobs")
        if not params.get("metrics_url") and not params.get("stats_url"):
            raise HttpQueueError("state=drained needs stats_url or metrics_url to see the active jobs")
    for name in (params.get("metrics") or {}):
        if name not in COUNT_NAMES + ("paused",):
            raise HttpQueueError("metrics has unknown key %r; use %s" % (name, ", ".join(COUNT_NAMES + ("paused",))))
    for name in (params.get("stats_paths") or {}):
        if name not in COUNT_NAMES + ("paused",):
            raise HttpQueueError("stats_paths has unknown key %r; use %s" % (name, ", ".join(COUNT_NAMES + ("paused",))))
    if len(queues) > 1:
        for option in ("pause_url", "resume_url"):
            url = params.get(option)
            if url and PLACEHOLDER not in url:
                raise HttpQueueError("%s has no {queue} placeholder, so it cannot address the %d queues one by one"
                                     % (option, len(queues)))


class HttpQueues(object):
    """The same interface as BullMQQueues, over an application's admin HTTP API."""

    def __init__(self, params, opener=open_url):
        self.params = params
        self.opener = opener
        self.warnings = []
        self.stats_paths = dict(DEFAULT_STATS_PATHS)
        self.stats_paths.update(params.get("stats_paths") or {})

    # -- requests

    def _headers(self):
        headers = dict(self.params.get("headers") or {})
        if self.params.get("token"):
            headers["Authorization"] = "Bearer %s" % self.params["token"]
        return headers

    @staticmethod
    def _url(template, queue):
        return template.replace(PLACEHOLDER, quote(queue, safe=""))

    def _request(self, option, queue, method="GET", allow_404=False):
        url = self._url(self.params[option], queue)
        try:
            response = self.opener(url, method=method, headers=self._headers(),
                                   timeout=self.params.get("timeout") or 10,
                                   validate_certs=self.params.get("validate_certs", True),
                                   ca_path=self.params.get("ca_path"), follow_redirects="safe",
                                   data=b"" if method in ("POST", "PUT", "PATCH") else None)
            return response.getcode(), response.read(MAX_BODY)
        except HTTPError as exc:
            if allow_404 and exc.code == 404:
                return 404, b""
            body = b""
            try:
                body = exc.read(300)
            except Exception:  # pylint: disable=broad-except
                pass
            excerpt = self._scrub(body.decode("utf-8", "replace"))
            raise HttpQueueError("%s %s (%s) answered HTTP %s: %s" % (method, option, self._safe(url), exc.code, excerpt))
        except (URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise HttpQueueError("%s %s (%s) failed: %s" % (method, option, self._safe(url), self._scrub(str(reason))))

    @staticmethod
    def _safe(url):
        parts = urlsplit(url)
        return "%s://%s%s" % (parts.scheme, parts.hostname or "", (":%s" % parts.port) if parts.port else "") + parts.path

    def _scrub(self, text):
        token = self.params.get("token")
        return text.replace(token, "********") if token else text

    # -- the backend interface

    def describe_missing(self):
        if self.params.get("metrics_url"):
            return "no sample of the configured metrics carries the queue's labels"
        return "the stats URL answered 404"

    def status(self, queue):
        if self.params.get("metrics_url"):
            return self._status_from_metrics(queue)
        if self.params.get("stats_url"):
            return self._status_from_stats(queue)
        return dict(exists=True, paused=None, counts={})

    def _status_from_stats(self, queue):
        code, body = self._request("stats_url", queue, allow_404=True)
        if code == 404:
            return dict(exists=False, paused=None, counts={})
        try:
            data = json.loads(body.decode("utf-8"))
        except ValueError:
            raise HttpQueueError("stats_url did not answer JSON (first bytes: %r)" % self._scrub(body[:80].decode("utf-8", "replace")))
        counts = {}
        for name, path in self.stats_paths.items():
            if name != "paused":
                counts[name] = as_count(dotted_get(data, path), "stats value at %r" % path)
        paused = as_flag(dotted_get(data, self.stats_paths["paused"]), "stats value at %r" % self.stats_paths["paused"])
        return dict(exists=True, paused=paused, counts=counts)

    def _status_from_metrics(self, queue):
        _code, body = self._request("metrics_url", queue)
        samples = parse_exposition(body.decode("utf-8", "replace"))
        selector = dict((k, str(v).replace(PLACEHOLDER, queue)) for k, v in (self.params.get("metrics_labels") or {}).items())
        found = dict((name, select_sum(samples, metric, selector)) for name, metric in self.params["metrics"].items())
        if all(value is None for value in found.values()):
            return dict(exists=False, paused=None, counts={})
        paused = found.pop("paused", None)
        return dict(exists=True, paused=None if paused is None else paused != 0, counts=found)

    def active(self, queue):
        active = self.status(queue)["counts"].get("active")
        if active is None:
            raise HttpQueueError("queue %r: the stats/metrics give no active count, so the drain cannot be watched" % queue)
        return active

    def would_change(self, queue, status, want_paused):
        if status["paused"] is None:
            return True
        return status["paused"] != want_paused

    def pause(self, queue, status):
        return self._switch(queue, status, True, "pause_url")

    def resume(self, queue, status):
        return self._switch(queue, status, False, "resume_url")

    def _switch(self, queue, status, want_paused, option):
        if status["paused"] is want_paused:
            return False
        if status["paused"] is None:
            self.warnings.append("queue %r: its paused state is not visible (no stats_paths.paused or metrics.paused), "
                                 "so %s was called and reported as a change" % (queue, option))
        self._request(option, queue, method=self.params.get("method") or "POST")
        return True
