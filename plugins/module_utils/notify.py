# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run notifications: the payloads (generic JSON webhook, Slack, PagerDuty Events v2) and sending them.

Payloads are built here from an allow-list of fields, so whatever a caller passes in ``details``
only names, versions, outcomes, steps, status codes and counts reach a receiver: never a response
body, a URL or a routing key. Sending never raises: every target gets a status line instead.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import Request

EVENTS = ("start", "result", "summary")
GOOD_OUTCOMES = ("success", "unchanged", "passed")
DETAIL_FIELDS = ("version", "version_before", "version_after", "backup", "seconds", "failed_step", "reason",
                 "queues_resumed", "database_kept", "rows_since_backup", "operator", "target", "rollback_smoke")
TEXT_LIMIT = 300
PAGERDUTY_SUMMARY_LIMIT = 1024


class NotifyConfigError(ValueError):
    """Bad options; the message is meant for the user as is."""


def _short(value, limit=TEXT_LIMIT):
    if isinstance(value, str):
        value = " ".join(value.split())
        return value if len(value) <= limit else value[:limit - 3] + "..."
    return value


def clean_details(details):
    """Only the allowed fields, strings shortened; rows_since_backup kept as a dict of counts."""
    out = {}
    for key in DETAIL_FIELDS:
        value = (details or {}).get(key)
        if value is None or value == "" or value == {}:
            continue
        if key == "rows_since_backup":
            if isinstance(value, dict):
                out[key] = dict((str(k), v) for k, v in value.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
            continue
        out[key] = _short(value) if isinstance(value, str) else value if isinstance(value, (int, float, bool)) else _short(str(value))
    return out


def dedup_key(clinic, playbook):
    """One PagerDuty incident per clinic and playbook: a later success resolves it."""
    return "medops:%s:%s" % (clinic, playbook)


def check(params):
    event = params["event"]
    if event == "result":
        for name in ("clinic", "outcome"):
            if not params.get(name):
                raise NotifyConfigError("event=result needs %s" % name)
    clinics = params.get("clinics") or []
    if not isinstance(clinics, list):
        raise NotifyConfigError("clinics must be a list")
    for i, item in enumerate(clinics):
        if not isinstance(item, (dict, str)):
            raise NotifyConfigError("clinics[%d] must be a clinic name or a dict with clinic and outcome, got %s" % (i, type(item).__name__))
        if isinstance(item, dict) and not item.get("clinic"):
            raise NotifyConfigError("clinics[%d] has no clinic" % i)
    for name in ("webhook_url", "slack_webhook_url", "pagerduty_url"):
        url = params.get(name) or ""
        if url and not (url.startswith("http://") or url.startswith("https://")):
            # The URL itself may carry a token: say which option, never what it holds.
            raise NotifyConfigError("%s must start with http:// or https://" % name)
    if params["timeout"] <= 0:
        raise NotifyConfigError("timeout must be greater than 0 (got %s)" % params["timeout"])


def _clinic_rows(clinics):
    rows = []
    for item in clinics or []:
        if isinstance(item, str):
            item = {"clinic": item}
        row = {"clinic": str(item["clinic"]), "outcome": str(item.get("outcome") or "not_reached")}
        row.update(clean_details(item))
        rows.append(row)
    return rows


def describe(params):
    """(one line for people, the common JSON fields) for the event."""
    event, playbook, run = params["event"], params["playbook"], params.get("run_id") or ""
    version = params.get("version") or ""
    run_note = " (run %s)" % run if run else ""
    what = "%s%s" % (playbook, " of " + version if version else "")
    common = {"event": event, "playbook": playbook, "run_id": run, "version": version}
    if event == "start":
        rows = _clinic_rows(params.get("clinics"))
        names = [r["clinic"] for r in rows]
        text = "%s started on %d clinic(s)%s%s" % (what, len(names), (": " + ", ".join(names)) if names else "", run_note)
        common["clinics"] = names
        return text, common
    if event == "summary":
        rows = _clinic_rows(params.get("clinics"))
        counts = {}
        for row in rows:
            counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
        tally = ", ".join("%d %s" % (n, outcome) for outcome, n in sorted(counts.items())) or "no clinics"
        lines = ["%s: %s" % (r["clinic"], r["outcome"]) for r in rows]
        text = "%s finished%s: %s%s" % (what, run_note, tally, ("\n" + "\n".join(lines)) if lines else "")
        common.update(clinics=rows, counts=counts, ok=all(r["outcome"] in GOOD_OUTCOMES for r in rows))
        return text, common
    details = clean_details(params.get("details"))
    clinic, outcome = params["clinic"], params["outcome"]
    before, after = details.get("version_before"), details.get("version_after") or version
    change = " %s -> %s" % (before or "(none)", after) if (before or after) else ""
    text = "%s: %s%s: %s" % (clinic, what, change, outcome)
    if outcome not in GOOD_OUTCOMES:
        text += " at step %s" % details["failed_step"] if details.get("failed_step") else ""
        text += " (%s)" % details["reason"] if details.get("reason") else ""
    # The smoke tests after a rollback: the release rolled back to may fail them too.
    if details.get("rollback_smoke") not in (None, "passed"):
        text += "; %s" % details["rollback_smoke"]
    common.update(clinic=clinic, outcome=outcome, ok=outcome in GOOD_OUTCOMES, details=details)
    return text + run_note, common


def build_messages(params):
    """[(target, payload)] for every configured target that this event concerns."""
    text, common = describe(params)
    messages = []
    quiet = params["event"] == "result" and common["ok"] and not params.get("announce_success", True)
    if params.get("webhook_url") and not quiet:
        messages.append(("webhook", dict(common, text=text)))
    if params.get("slack_webhook_url") and not quiet:
        messages.append(("slack", {"text": text}))
    if params.get("pagerduty_routing_key") and params["event"] == "result":
        key = dedup_key(params["clinic"], params["playbook"])
        payload = {"routing_key": params["pagerduty_routing_key"], "dedup_key": key}
        if common["ok"]:
            payload["event_action"] = "resolve"
        else:
            payload["event_action"] = "trigger"
            payload["payload"] = {
                "summary": _short(text, PAGERDUTY_SUMMARY_LIMIT),
                "source": params.get("source") or params["clinic"],
                "severity": params["pagerduty_severity"],
                "component": params["clinic"],
                "group": params["playbook"],
                "class": common["outcome"],
                "custom_details": dict(common["details"], run_id=common["run_id"], outcome=common["outcome"]),
            }
        messages.append(("pagerduty", payload))
    return messages


def _error(exc):
    """A short reason for a failed request, never the URL or the answer's body."""
    if isinstance(exc, HTTPError):
        return "HTTP %s" % exc.code, exc.code
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused", None
    if "timed out" in str(reason):
        return "no answer within the timeout", None
    return "%s: %s" % (type(reason).__name__, reason), None


class Sender(object):
    """POSTs JSON; one status line per target. ``opener(url, data, headers, timeout) -> status``."""

    def __init__(self, params, opener=None):
        self.params = params
        self.opener = opener or self._open
        self.request = Request(validate_certs=params["validate_certs"], http_agent="medops.runbook.notify",
                               follow_redirects="none", use_netrc=False)

    def _open(self, url, data, headers, timeout):
        response = self.request.open("POST", url, data=data, headers=headers, timeout=timeout)
        try:
            response.read(4096)  # drained and dropped: a receiver's answer is not ours to repeat
        finally:
            response.close()
        return response.status

    def url_for(self, target):
        return {"webhook": self.params.get("webhook_url"), "slack": self.params.get("slack_webhook_url"),
                "pagerduty": self.params.get("pagerduty_url")}[target]

    def send(self, target, payload, check_mode=False):
        line = {"target": target, "event": self.params["event"], "status": None, "ok": False, "error": None}
        if target == "pagerduty":
            line.update(action=payload["event_action"], dedup_key=payload["dedup_key"])
        if check_mode:
            line.update(ok=True, skipped="check mode: nothing was sent")
            return line
        data = json.dumps(payload, sort_keys=True).encode("utf-8")
        try:
            status = self.opener(self.url_for(target), data, {"Content-Type": "application/json"}, self.params["timeout"])
            line.update(status=status, ok=200 <= int(status) < 300)
            if not line["ok"]:
                line["error"] = "HTTP %s" % status
        except (HTTPError, URLError, OSError, ValueError) as exc:
            line["error"], line["status"] = _error(exc)
        except Exception as exc:  # pylint: disable=broad-except
            # http.client raises assorted errors for broken answers; a notification never ends a run.
            line["error"] = "bad answer: %s" % type(exc).__name__
        return line


def notify(params, check_mode=False, opener=None):
    """Send the event to every configured target; returns the result dict (never raises for the network)."""
    check(params)
    sender = Sender(params, opener)
    lines = [sender.send(target, payload, check_mode) for target, payload in build_messages(params)]
    failed = [line["target"] for line in lines if not line["ok"]]
    return {"notifications": lines, "sent": len([line for line in lines if line["ok"] and not line.get("skipped")]),
            "failed_targets": failed}
