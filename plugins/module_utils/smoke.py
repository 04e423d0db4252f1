# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Smoke tests for the smoke_test module: reading the list of tests, judging one answer, the summary.

The HTTP request goes through http_probe (the same TLS, auth and error handling as health_wait) and
the JSON conditions through health_body (the same paths and comparisons as health_wait's
json_checks). Everything else here is pure, so that it is unit-tested without a server.

A response body never leaves this module whole: a failed JSON condition quotes at most
``SEEN_CHARS`` characters of the value it found, and header values are quoted only for the
header a test asserts on, shortened the same way.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.medops.runbook.plugins.module_utils.health_body import CheckSpecError, describe, holds, parse_check, parse_json
from ansible_collections.medops.runbook.plugins.module_utils.http_probe import (
    METHODS, ProbeConfigError, _check_codes, _check_url, _encode_body, excerpt)

TEST_KEYS = ("name", "path", "url", "method", "status", "headers", "body", "body_format", "json",
             "headers_present", "headers_equal", "headers_match", "token_file")
SEEN_CHARS = 60
# Request headers (and top-level JSON body keys) whose values are secrets: never returned, never in a message.
SECRET_NAME = re.compile(r"auth|token|key|cookie|secret|password", re.IGNORECASE)


class SmokeSpecError(ValueError):
    """A smoke test that cannot be understood; the message is meant for the user as is."""


def _where(index, test):
    name = test.get("name") if isinstance(test, dict) else None
    return "tests[%d]%s" % (index, " (%s)" % name if name else "")


def _header_map(value, key, where):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SmokeSpecError("%s: %s must be a mapping of header name to value" % (where, key))
    return dict((str(k), str(v)) for k, v in value.items())


def parse_test(test, index, base_url=None):
    """One smoke test, checked and normalised; SmokeSpecError names the test and what is wrong."""
    where = _where(index, test)
    if not isinstance(test, dict):
        raise SmokeSpecError("%s: expected a dict with path (or url) and checks, got %s" % (where, type(test).__name__))
    unknown = sorted(set(test) - set(TEST_KEYS))
    if unknown:
        raise SmokeSpecError("%s: unknown key(s) %s; allowed: %s" % (where, ", ".join(unknown), ", ".join(TEST_KEYS)))
    path = test.get("path")
    if test.get("url"):
        url = test["url"]
    elif isinstance(path, str) and path.startswith("/"):
        if not base_url:
            raise SmokeSpecError("%s: path %r needs base_url (or give the test a url)" % (where, path))
        url = base_url.rstrip("/") + path
    else:
        raise SmokeSpecError("%s: give path (starting with /) or url" % where)
    method = str(test.get("method") or "GET").upper()
    if method not in METHODS:
        raise SmokeSpecError("%s: method %r is not one of %s" % (where, test.get("method"), ", ".join(METHODS)))
    status = test.get("status", 200)
    try:
        url = _check_url(url, where)
        codes = _check_codes(status if isinstance(status, list) else [status], where)
    except ProbeConfigError as exc:
        raise SmokeSpecError(str(exc))
    headers = _header_map(test.get("headers"), "headers", where)
    body = test.get("body")
    body_format = test.get("body_format") or ("raw" if body is None or isinstance(body, str) else "json")
    if body_format not in ("raw", "json"):
        raise SmokeSpecError("%s: body_format must be raw or json" % where)
    try:
        data = _encode_body(body, body_format, headers, where)
    except ProbeConfigError as exc:
        raise SmokeSpecError(str(exc))
    raw_checks = test.get("json") or []
    if not isinstance(raw_checks, list):
        raise SmokeSpecError("%s: json must be a list of conditions such as {path: version, equals: 1.1.0}" % where)
    try:
        checks = [parse_check(c, "%s json[%d]" % (where, i)) for i, c in enumerate(raw_checks)]
    except CheckSpecError as exc:
        raise SmokeSpecError(str(exc))
    present = test.get("headers_present") or []
    if not isinstance(present, list):
        raise SmokeSpecError("%s: headers_present must be a list of header names" % where)
    patterns = {}
    for name, pattern in _header_map(test.get("headers_match"), "headers_match", where).items():
        try:
            patterns[name] = re.compile(pattern)
        except re.error as exc:
            raise SmokeSpecError("%s: headers_match %s: %r is not a valid regular expression: %s" % (where, name, pattern, exc))
    token_file = test.get("token_file")
    if token_file is not None and (not isinstance(token_file, str) or not token_file.strip()):
        raise SmokeSpecError("%s: token_file must be a path" % where)
    return {
        "name": str(test.get("name") or "%s %s" % (method, url_path(url))),
        "method": method,
        "url": url,
        "path": url_path(url),
        "headers": headers,
        "data": data,
        "status_codes": codes,
        "checks": checks,
        "headers_present": [str(h) for h in present],
        "headers_equal": _header_map(test.get("headers_equal"), "headers_equal", where),
        "headers_match": patterns,
        "token_file": token_file,
        "secrets": _secrets(headers, body),
    }


def parse_tests(tests, base_url=None):
    if not isinstance(tests, list):
        raise SmokeSpecError("tests must be a list of smoke tests")
    return [parse_test(test, index, base_url) for index, test in enumerate(tests)]


def url_path(url):
    """The path of a URL, without its query (which may carry a token)."""
    rest = url.split("://", 1)[-1]
    path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return path.split("?", 1)[0].split("#", 1)[0]


def _secrets(headers, body):
    values = [value for name, value in headers.items() if SECRET_NAME.search(name)]
    if isinstance(body, dict):
        values += [str(value) for name, value in body.items() if SECRET_NAME.search(str(name)) and isinstance(value, (str, int))]
    return [value for value in values if value]


def secret_values(test):
    """Values a test sends that must never be shown: secret-looking request headers (Authorization,
    cookies, keys) and top-level JSON body fields (password, token)."""
    return list(test["secrets"])


def read_token(path, reader):
    """(token, None) or (None, why): the first line of a token file on the host, never its content in a message."""
    try:
        text = reader(path)
    except (IOError, OSError) as exc:
        return None, "token_file %s cannot be read (%s)" % (path, getattr(exc, "strerror", None) or type(exc).__name__)
    token = (text or "").strip().splitlines()[0].strip() if (text or "").strip() else ""
    if not token:
        return None, "token_file %s is empty" % path
    return token, None


def judge(test, status, headers, body, content_type=""):
    """What did not hold for one answer (``headers`` with lower-cased names); [] when the test passes."""
    failures = []
    if status not in test["status_codes"]:
        failures.append("expected HTTP %s, got %s" % ("/".join(str(c) for c in test["status_codes"]), status))
    headers = dict((str(k).lower(), v) for k, v in (headers or {}).items())
    missing = [name for name in test["headers_present"] if name.lower() not in headers]
    if missing:
        failures.append("missing headers %s" % ", ".join(missing))
    for name, expected in sorted(test["headers_equal"].items()):
        actual = headers.get(name.lower())
        if actual != expected:
            failures.append("header %s is %s, expected %r" % (name, _seen_header(actual), expected))
    for name, pattern in sorted(test["headers_match"].items()):
        actual = headers.get(name.lower())
        if actual is None or not pattern.search(actual):
            failures.append("header %s is %s, does not match %r" % (name, _seen_header(actual), pattern.pattern))
    if test["checks"]:
        doc = parse_json(body, content_type)
        for check in test["checks"]:
            if doc is None:
                failures.append("%s (got a body that is not JSON)" % describe(check))
                continue
            ok, seen = holds(doc, check)
            if not ok:
                failures.append("%s (got %s)" % (describe(check), excerpt(seen, SEEN_CHARS)))
    return failures


def _seen_header(value):
    return "missing" if value is None else repr(excerpt(value, SEEN_CHARS))


def result(test, status, failures):
    """What is returned about one test: no URL query, no request header, no body."""
    return {
        "name": test["name"],
        "method": test["method"],
        "path": test["path"],
        "status": status,
        "passed": not failures,
        "failures": failures,
    }


def summary(results):
    """One line per failed test, or a line saying all passed."""
    failed = [r for r in results if not r["passed"]]
    if not failed:
        return "%d smoke test(s) passed" % len(results)
    return "; ".join("smoke test '%s' (%s %s): %s" % (r["name"], r["method"], r["path"], ", ".join(r["failures"]))
                     for r in failed)


def run(tests, prober, timeout, reader):
    """Send every test once (in order) and judge it; a transport error fails that test only."""
    results = []
    for test in tests:
        headers = dict(test["headers"])
        if test["token_file"]:
            token, problem = read_token(test["token_file"], reader)
            if problem:
                results.append(result(test, None, [problem]))
                continue
            headers["Authorization"] = "Bearer %s" % token
        endpoint = {"method": test["method"], "url": test["url"], "headers": headers, "data": test["data"]}
        answer = prober.probe(endpoint, timeout)
        if answer.error:
            results.append(result(test, None, ["no answer: %s" % answer.error]))
            continue
        results.append(result(test, answer.status, judge(test, answer.status, answer.headers, answer.body, answer.content_type)))
    return results
