# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judging one health answer: status code, JSON body conditions, body regex.

Everything here is pure (no I/O) so that every body shape the runbooks show is unit-tested.
Understood shapes:

- ``{"status": "ok" | "healthy" | "pass" | "UP" | "degraded" | "fail" ...}``
- ``application/health+json``: ``{"status": "pass|warn|fail", "checks": {"db:responseTime": [{"status": ...}]}}``
- ``checks`` as a map ``name -> state`` (string, bool or ``{"status": ...}``) or a list of ``{name, status}``
- Spring Boot ``components`` map, ``degraded_services`` list, ``ready: true|false``
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

HEALTHY = "healthy"
DEGRADED = "degraded"
UNHEALTHY = "unhealthy"

_STATES = {
    HEALTHY: ("ok", "healthy", "pass", "passed", "passing", "up", "green", "ready", "success", "available",
              "online", "alive", "true", "serving"),
    DEGRADED: ("degraded", "warn", "warning", "yellow", "partial", "partially_available"),
    # Readiness states that mean "not yet" count as unhealthy: waiting on them is the point.
    UNHEALTHY: ("fail", "failed", "failing", "failure", "down", "unhealthy", "error", "critical", "red", "outofservice",
                "out_of_service", "unavailable", "offline", "false", "starting", "initializing", "initialising",
                "pending", "not_ready", "notready", "maintenance", "not_serving", "dead"),
}
_STATE_OF = dict((word, state) for state, words in _STATES.items() for word in words)
_RANK = {HEALTHY: 0, DEGRADED: 1, UNHEALTHY: 2}

OPERATORS = ("equals", "not_equals", "is", "in", "not_in", "exists")
_MISSING = object()
_SHORTHAND = re.compile(r"^\s*(?P<path>[^\s=!]+)\s*(?:(?P<op>===|==|!=|\bnot\s+in\b|\bin\b)\s*(?P<value>.+?)|(?P<word>\bnot\s+exists|\bexists))\s*$")


class CheckSpecError(ValueError):
    """A json_checks entry that cannot be understood (reported to the user, never a traceback)."""


def classify(value):
    """HEALTHY / DEGRADED / UNHEALTHY for a state value, or None when it is not a known state."""
    if isinstance(value, bool):
        return HEALTHY if value else UNHEALTHY
    if isinstance(value, dict):
        for key in ("status", "state", "health", "healthy", "ready"):
            if key in value:
                return classify(value[key])
        return None
    if isinstance(value, list):
        states = [classify(item) for item in value]
        known = [s for s in states if s]
        return worst(known) if known else None
    if isinstance(value, str):
        return _STATE_OF.get(value.strip().lower().replace("-", "_").replace(" ", "_"))
    return None


def worst(states):
    return max(states, key=lambda s: _RANK[s]) if states else None


def _raw_state(value):
    """What to show as a check's state: the status string itself when there is one."""
    if isinstance(value, dict):
        for key in ("status", "state", "health", "healthy", "ready"):
            if key in value:
                return value[key]
        return value
    if isinstance(value, list):
        raws = [_raw_state(item) for item in value]
        ranked = [(_RANK.get(classify(r), -1), i) for i, r in enumerate(raws)]
        return raws[max(ranked)[1]] if raws else None
    return value


def extract_checks(doc):
    """``{name: state}`` for every per-check state a body carries (several shapes, merged)."""
    checks = {}
    if not isinstance(doc, dict):
        return checks
    for key in ("checks", "components", "services", "dependencies"):
        part = doc.get(key)
        if isinstance(part, dict):
            for name, value in part.items():
                if classify(value) is not None:
                    checks[str(name)] = _raw_state(value)
        elif isinstance(part, list):
            for item in part:
                if isinstance(item, dict):
                    name = next((item[k] for k in ("name", "component", "componentId", "id", "service") if k in item), None)
                    if name is not None and classify(item) is not None:
                        checks[str(name)] = _raw_state(item)
    for name in doc.get("degraded_services") or []:
        if isinstance(name, str):
            checks.setdefault(name, DEGRADED)
    return checks


def overall(doc):
    """(raw value, classified state) of the body's overall health, (None, None) when it has none."""
    if not isinstance(doc, dict):
        return None, None
    for key in ("status", "state", "health", "healthy"):
        value = doc.get(key)
        if isinstance(value, (str, bool)) and classify(value):
            return value, classify(value)
    if isinstance(doc.get("ready"), bool):
        return doc["ready"], classify(doc["ready"])
    return None, None


def resolve(doc, path):
    """Value at a dotted path; keys that contain dots (``ocr.label``) are matched before splitting."""
    parts = path.split(".")
    node = doc
    i = 0
    while i < len(parts):
        if isinstance(node, dict):
            for j in range(len(parts), i, -1):
                key = ".".join(parts[i:j])
                if key in node:
                    node, i = node[key], j
                    break
            else:
                return _MISSING
        elif isinstance(node, list) and re.match(r"^-?\d+$", parts[i]):
            index = int(parts[i])
            if not -len(node) <= index < len(node):
                return _MISSING
            node, i = node[index], i + 1
        else:
            return _MISSING
    return node


def _norm(value):
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(float(value))
    if isinstance(value, str):
        text = value.strip().lower()
        try:
            return repr(float(text))
        except ValueError:
            return text
    return json.dumps(value, sort_keys=True)


def same(actual, expected):
    """Loose equality for health values: case-insensitive strings, ``true`` == True, ``1`` == 1.0."""
    return _norm(actual) == _norm(expected)


def exactly(actual, expected):
    """Strict equality, for identities such as versions: ``1.10`` is not ``1.1``, ``Ok`` is not ``ok``,
    and a JSON string is not a number. The expected value may be given as text (a template renders
    to text), so a JSON string compares with its text and anything else with its JSON form."""
    if isinstance(actual, str):
        return isinstance(expected, str) and actual == expected
    if isinstance(expected, str):
        return json.dumps(actual) == expected.strip()
    return type(actual) is type(expected) and actual == expected


def _parse_value(text):
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        pass
    if text.startswith("[") and text.endswith("]"):
        return [item.strip().strip("'\"") for item in text[1:-1].split(",") if item.strip()]
    return text.strip("'\"")


def parse_check(spec, where="json_checks"):
    """Normalise one condition to ``{"path", "op", "value"}``; CheckSpecError with a readable reason."""
    if isinstance(spec, str):
        match = _SHORTHAND.match(spec)
        if not match:
            raise CheckSpecError("%s: cannot read %r; write 'PATH == VALUE', 'PATH != VALUE', 'PATH in [A, B]', "
                                 "'PATH not in [A, B]', 'PATH exists' or 'PATH not exists'" % (where, spec))
        if match.group("word"):
            return {"path": match.group("path"), "op": "exists", "value": not match.group("word").startswith("not")}
        op = {"===": "is", "==": "equals", "!=": "not_equals", "in": "in"}.get(match.group("op"), "not_in")
        # `===` compares text as written (1.10 stays "1.10"); the others read numbers and lists.
        value = match.group("value").strip().strip("'\"") if op == "is" else _parse_value(match.group("value"))
        return _checked({"path": match.group("path"), "op": op, "value": value}, where)
    if not isinstance(spec, dict):
        raise CheckSpecError("%s: expected a string or a dict, got %s" % (where, type(spec).__name__))
    if not isinstance(spec.get("path"), str) or not spec["path"].strip():
        raise CheckSpecError("%s: 'path' (a dotted path such as checks.database) is required" % where)
    unknown = sorted(set(spec) - set(OPERATORS) - {"path"})
    if unknown:
        raise CheckSpecError("%s: unknown operator %s; use one of %s" % (where, ", ".join(repr(u) for u in unknown), ", ".join(OPERATORS)))
    ops = [op for op in OPERATORS if op in spec]
    if len(ops) != 1:
        raise CheckSpecError("%s: give exactly one operator (%s) for path %r" % (where, ", ".join(OPERATORS), spec["path"]))
    return _checked({"path": spec["path"].strip(), "op": ops[0], "value": spec[ops[0]]}, where)


def _checked(check, where):
    if check["op"] in ("in", "not_in") and not isinstance(check["value"], list):
        raise CheckSpecError("%s: '%s' needs a list of values for path %r" % (where, check["op"], check["path"]))
    if check["op"] == "exists" and not isinstance(check["value"], bool):
        raise CheckSpecError("%s: 'exists' takes true or false for path %r" % (where, check["path"]))
    return check


def describe(check):
    symbol = {"equals": "==", "not_equals": "!=", "is": "===", "in": "in", "not_in": "not in"}.get(check["op"])
    if symbol:
        return "%s %s %s" % (check["path"], symbol, json.dumps(check["value"]))
    return "%s %s" % (check["path"], "exists" if check["value"] else "does not exist")


def holds(doc, check):
    """(holds?, what was seen) for one parsed condition."""
    actual = resolve(doc, check["path"])
    seen = "missing" if actual is _MISSING else json.dumps(actual)[:200]
    op, value = check["op"], check["value"]
    if op == "exists":
        return (actual is not _MISSING) == value, seen
    if actual is _MISSING:
        return op in ("not_equals", "not_in"), seen
    if op == "equals":
        return same(actual, value), seen
    if op == "is":
        return exactly(actual, value), seen
    if op == "not_equals":
        return not same(actual, value), seen
    member = any(same(actual, v) for v in value)
    return member if op == "in" else not member, seen


def parse_json(body, content_type=""):
    """The decoded JSON document, or None when the body is not JSON."""
    if body is None:
        return None
    text = body.strip() if isinstance(body, str) else body.decode("utf-8", "replace").strip()
    if not text or ("json" not in (content_type or "").lower() and text[:1] not in "{["):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def evaluate(status, body, content_type="", expect=None):
    """Judge one answer. ``expect``: status_codes, checks (parsed), regex (compiled), allow_degraded, interpret_body.

    Returns healthy, failures (conditions that did not hold, readable), json, overall, checks, degraded.
    """
    expect = expect or {}
    failures = []
    codes = expect.get("status_codes") or [200]
    if status not in codes:
        failures.append("status %s not in %s" % (status, codes))
    text = body if isinstance(body, str) else (body or b"").decode("utf-8", "replace")
    doc = parse_json(text, content_type)
    raw_overall, state = overall(doc)
    checks = extract_checks(doc)
    degraded = sorted(name for name, value in checks.items() if classify(value) in (DEGRADED, UNHEALTHY))
    conditions = expect.get("checks") or []
    for check in conditions:
        ok, seen = holds(doc if doc is not None else {}, check)
        if not ok:
            failures.append("%s (got %s)" % (describe(check), seen if doc is not None else "a body that is not JSON"))
    if not conditions and expect.get("interpret_body", True):
        failures.extend(_default_judgement(raw_overall, state, checks, expect.get("allow_degraded", False)))
    regex = expect.get("regex")
    if regex is not None and not regex.search(text):
        failures.append("body does not match %r" % regex.pattern)
    return {
        "healthy": not failures,
        "failures": failures,
        "json": doc,
        "overall": raw_overall,
        "overall_state": state,
        "checks": checks,
        "degraded": degraded,
    }


def _default_judgement(raw_overall, state, checks, allow_degraded):
    """Without json_checks: a recognised overall status or check state that is not healthy fails."""
    bad = (UNHEALTHY,) if allow_degraded else (UNHEALTHY, DEGRADED)
    failures = []
    if state in bad:
        failures.append("overall status is %s" % json.dumps(raw_overall))
    failing = sorted(name for name, value in checks.items() if classify(value) in bad)
    if failing:
        failures.append("checks not healthy: %s" % ", ".join("%s=%s" % (n, _short(checks[n])) for n in failing))
    return failures


def _short(value):
    return value if isinstance(value, str) else json.dumps(value)[:60]
