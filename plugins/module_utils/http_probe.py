# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP(S) health probing for health_wait: option validation, one probe, and the wait loop.

Uses ansible.module_utils.urls (urllib underneath) so that TLS, client certificates, ca_path
and basic auth need no third-party library on the target.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import inspect
import json
import os
import re
import socket
import ssl
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlsplit
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.module_utils.urls import Request, make_context
from ansible_collections.medops.runbook.plugins.module_utils.health_body import CheckSpecError, evaluate, parse_check

MAX_BODY_BYTES = 1024 * 1024
# Health and error pages can carry patient data: a body leaves the module only when the caller asks
# (return_body), and a failure message quotes at most this many characters of it.
MSG_EXCERPT_CHARS = 200
RETURNED_BODY_CHARS = 4096
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "OPTIONS")
ENDPOINT_KEYS = ("url", "name", "method", "headers", "body", "body_format", "status_codes", "json_checks",
                 "body_regex", "allow_degraded", "interpret_body", "success_threshold", "confirm")


def http_client_argument_spec():
    """The request, TLS and authentication options of the medops.runbook.http_client doc fragment."""
    return dict(
        follow_redirects=dict(type="str", default="safe", choices=["all", "safe", "none"]),
        use_proxy=dict(type="bool", default=True),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        client_cert=dict(type="path"),
        client_key=dict(type="path", no_log=False),
        url_username=dict(type="str"),
        url_password=dict(type="str", no_log=True),
        bearer_token=dict(type="str", no_log=True),
    )


# AnsibleModule's required_by and mutually_exclusive for those options.
HTTP_CLIENT_REQUIRED_BY = {"client_key": "client_cert", "url_password": "url_username"}
HTTP_CLIENT_MUTUALLY_EXCLUSIVE = [("bearer_token", "url_username")]


def http_client_module_kwargs(mutually_exclusive=(), **constraints):
    """AnsibleModule's constraint arguments for a module with those options: theirs beside the
    module's own. Each module says supports_check_mode itself, where a reader looks for it."""
    kwargs = dict(mutually_exclusive=list(mutually_exclusive) + HTTP_CLIENT_MUTUALLY_EXCLUSIVE,
                  required_by=HTTP_CLIENT_REQUIRED_BY)
    kwargs.update(constraints)
    return kwargs


class ProbeConfigError(ValueError):
    """Bad options; the message is meant for the user as is."""


def _check_url(url, where):
    if not isinstance(url, str) or not url.strip():
        raise ProbeConfigError("%s: a URL is required" % where)
    parts = urlsplit(url.strip())
    if not parts.scheme or "://" not in url:
        raise ProbeConfigError("%s: %r has no scheme; write http://%s or https://%s" % (where, url, url, url))
    if parts.scheme not in ("http", "https"):
        raise ProbeConfigError("%s: scheme %r is not supported; use http or https" % (where, parts.scheme))
    if not parts.hostname:
        raise ProbeConfigError("%s: %r has no host" % (where, url))
    try:
        parts.port
    except ValueError:
        raise ProbeConfigError("%s: %r has an invalid port" % (where, url))
    return url.strip()


def _check_codes(codes, where):
    if not codes:
        raise ProbeConfigError("%s: status_codes must list at least one code" % where)
    out = []
    for code in codes:
        try:
            value = int(code)
        except (TypeError, ValueError):
            raise ProbeConfigError("%s: status code %r is not a number" % (where, code))
        if not 100 <= value <= 599:
            raise ProbeConfigError("%s: status code %d is outside 100-599" % (where, value))
        out.append(value)
    return out


def _check_regex(pattern, where):
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ProbeConfigError("%s: body_regex %r is not a valid regular expression: %s" % (where, pattern, exc))


def _encode_body(body, body_format, headers, where):
    if body is None:
        return None
    if body_format == "json":
        headers.setdefault("Content-Type", "application/json")
        return json.dumps(body).encode("utf-8")
    if not isinstance(body, str):
        raise ProbeConfigError("%s: body must be a string unless body_format is json" % where)
    return body.encode("utf-8")


def check_timing(params):
    """Validate the timing options; they apply to every endpoint."""
    for name in ("timeout", "interval"):
        if params[name] <= 0:
            raise ProbeConfigError("%s must be greater than 0 (got %s)" % (name, params[name]))
    if params["wait_timeout"] < 0:
        raise ProbeConfigError("wait_timeout must be 0 or more (got %s)" % params["wait_timeout"])
    if params["backoff"] < 1:
        raise ProbeConfigError("backoff must be 1 (no backoff) or more (got %s)" % params["backoff"])
    if params["max_interval"] is not None and params["max_interval"] < params["interval"]:
        raise ProbeConfigError("max_interval (%s) must not be less than interval (%s)" % (params["max_interval"], params["interval"]))
    if params["success_threshold"] < 1:
        raise ProbeConfigError("success_threshold must be 1 or more (got %s)" % params["success_threshold"])
    if params["failure_threshold"] is not None and params["failure_threshold"] < 0:
        raise ProbeConfigError("failure_threshold must be 0 (never give up early) or more (got %s)" % params["failure_threshold"])


def check_tls(params):
    for name in ("ca_path", "client_cert", "client_key"):
        path = params.get(name)
        if path and not os.path.isfile(path):
            raise ProbeConfigError("%s %r does not exist or is not a file" % (name, path))


def build_endpoints(params):
    """One dict per endpoint: module-wide options overridden by the endpoint's own keys."""
    check_timing(params)
    check_tls(params)
    entries = [params["url"]] if params.get("url") is not None else list(params.get("urls") or [])
    if not entries:
        raise ProbeConfigError("give url, or urls with at least one endpoint")
    return [_endpoint(entry, params, "urls[%d]" % i if params.get("url") is None else "url") for i, entry in enumerate(entries)]


def _endpoint(entry, params, where):
    if isinstance(entry, str):
        entry = {"url": entry}
    if not isinstance(entry, dict):
        raise ProbeConfigError("%s: expected a URL or a dict with url and overrides, got %s" % (where, type(entry).__name__))
    unknown = sorted(set(entry) - set(ENDPOINT_KEYS))
    if unknown:
        raise ProbeConfigError("%s: unknown key(s) %s; allowed: %s" % (where, ", ".join(unknown), ", ".join(ENDPOINT_KEYS)))
    merged = dict((key, params.get(key)) for key in ENDPOINT_KEYS if key not in ("url", "name", "confirm"))
    merged.update((k, v) for k, v in entry.items() if v is not None)
    url = _check_url(entry.get("url"), where)
    method = str(merged["method"] or "GET").upper()
    if method not in METHODS:
        raise ProbeConfigError("%s: method %r is not one of %s" % (where, merged["method"], ", ".join(METHODS)))
    headers = dict(params.get("headers") or {})
    headers.update(entry.get("headers") or {})
    headers = dict((str(k), str(v)) for k, v in headers.items())
    if params.get("bearer_token"):
        headers["Authorization"] = "Bearer %s" % params["bearer_token"]
    threshold = merged["success_threshold"]
    if isinstance(threshold, str) and threshold.strip().isdigit():
        threshold = int(threshold)
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold < 1:
        raise ProbeConfigError("%s: success_threshold must be an integer of 1 or more (got %r)" % (where, threshold))
    raw_checks = merged["json_checks"] or []
    if not isinstance(raw_checks, list):
        raw_checks = [raw_checks]
    try:
        checks = [parse_check(c, "%s json_checks[%d]" % (where, i)) for i, c in enumerate(raw_checks)]
    except CheckSpecError as exc:
        raise ProbeConfigError(str(exc))
    confirm = _flag(entry.get("confirm", False), "confirm", where)
    return {
        "name": str(entry.get("name") or url),
        "url": url,
        "method": method,
        "headers": headers,
        "data": _encode_body(merged["body"], merged["body_format"], headers, where),
        "success_threshold": 1 if confirm else threshold,  # a confirmation is probed once
        "confirm": confirm,
        "expect": {
            "status_codes": _check_codes(merged["status_codes"], where),
            "checks": checks,
            "regex": _check_regex(merged["body_regex"], where),
            "allow_degraded": _flag(merged["allow_degraded"], "allow_degraded", where),
            "interpret_body": _flag(merged["interpret_body"], "interpret_body", where),
        },
    }


def _flag(value, name, where):
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise ProbeConfigError("%s: %s must be a boolean (got %r)" % (where, name, value))


class Answer(object):
    """What one probe saw. ``hard`` marks failures that waiting rarely cures (refused, DNS, TLS)."""

    def __init__(self, status=None, body="", content_type="", error=None, hard=False, latency=0.0, headers=None):
        self.status = status
        # Response headers, names lower-cased (the smoke tests judge them; health_wait does not).
        self.headers = headers or {}
        self.body = body
        self.content_type = content_type
        self.error = error
        self.hard = hard
        self.latency = latency


def _read(response):
    data = response.read(MAX_BODY_BYTES) if response is not None else b""
    return (data or b"").decode("utf-8", "replace")


def _lower_keys(headers):
    """Response headers as a plain dict, names lower-cased (a repeated header keeps its last value)."""
    return dict((str(name).lower(), str(value)) for name, value in headers.items())


def _classify_error(exc):
    """(message, hard?) for a transport error."""
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason):
        return "no answer within the per-request timeout", False
    if isinstance(reason, ssl.SSLError) or isinstance(reason, ssl.CertificateError):
        hint = " (set ca_path to the CA that signed it, or validate_certs: false)" if "CERTIFICATE_VERIFY_FAILED" in str(reason) else ""
        return "TLS error: %s%s" % (getattr(reason, "reason", None) or reason, hint), True
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused", True
    if isinstance(reason, socket.gaierror):
        return "cannot resolve host: %s" % reason, True
    if isinstance(reason, (ConnectionError, OSError)):
        return "connection error: %s" % reason, False
    return "request failed: %s" % reason, False


def request_takes_context(request_class=Request):
    """Whether ``request_class`` accepts a prebuilt SSL context (ansible-core 2.17 and later do; 2.16 does not)."""
    try:
        return "context" in inspect.signature(request_class.__init__).parameters
    except (TypeError, ValueError):
        return False


def make_request(params, request_class=Request):
    """A ``Request`` with the module's TLS, auth, redirect and proxy options.

    Where ``Request`` takes ``context`` (ansible-core >= 2.17) the SSL context is built once and
    reused by every probe. ansible-core 2.16's ``Request`` has no ``context`` argument: it gets
    validate_certs, ca_path, client_cert and client_key and builds a context on each request,
    which costs CPU per probe but checks the same things.
    """
    kwargs = dict(
        validate_certs=params["validate_certs"], ca_path=params.get("ca_path"),
        client_cert=params.get("client_cert"), client_key=params.get("client_key"),
        url_username=params.get("url_username"), url_password=params.get("url_password"),
        force_basic_auth=bool(params.get("url_username")), follow_redirects=params["follow_redirects"],
        use_proxy=params["use_proxy"], http_agent="medops.runbook.health_wait", use_netrc=False,
    )
    if request_takes_context(request_class):
        kwargs["context"] = _tls_context(params)
    else:
        _tls_context(params)  # the same early, readable error for unreadable TLS files
    return request_class(**kwargs)


def _tls_context(params):
    # Built once: open_url would otherwise re-read every system CA certificate on each probe,
    # which is most of a probe's CPU time.
    try:
        return make_context(cafile=params.get("ca_path"), validate_certs=params["validate_certs"],
                            client_cert=params.get("client_cert"), client_key=params.get("client_key"))
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ProbeConfigError("cannot load the TLS files (ca_path, client_cert, client_key): %s" % exc)


class Prober(object):
    """Sends one request per call and never raises for network trouble."""

    def __init__(self, params, request_class=Request):
        self.request = make_request(params, request_class)

    def probe(self, endpoint, timeout):
        start = time.monotonic()
        try:
            response = self.request.open(endpoint["method"], endpoint["url"], data=endpoint["data"],
                                         headers=endpoint["headers"], timeout=timeout)
            try:
                body = _read(response)
            finally:
                response.close()
            return Answer(response.status, body, response.headers.get("Content-Type", ""), latency=time.monotonic() - start,
                          headers=_lower_keys(response.headers))
        except HTTPError as exc:
            # urllib raises for 4xx/5xx: for a health check these are answers, not errors.
            try:
                body = _read(exc)
            except Exception:  # pylint: disable=broad-except
                body = ""
            headers = exc.headers or {}
            return Answer(exc.code, body, headers.get("Content-Type", ""), latency=time.monotonic() - start,
                          headers=_lower_keys(headers))
        except (URLError, socket.timeout, TimeoutError, ssl.SSLError, ssl.CertificateError, OSError) as exc:
            message, hard = _classify_error(exc)
            return Answer(error=message, hard=hard, latency=time.monotonic() - start)
        except Exception as exc:  # pylint: disable=broad-except
            # http.client raises assorted errors for broken answers (BadStatusLine, IncompleteRead, ...).
            return Answer(error="bad answer: %s: %s" % (type(exc).__name__, exc), latency=time.monotonic() - start)


def percentile(values, fraction):
    """Nearest-rank percentile (no interpolation: the value reported was really observed)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(-(-fraction * len(ordered) // 1)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(seconds):
    ms = [s * 1000.0 for s in seconds]
    return dict((k, round(v, 1) if v is not None else None)
                for k, v in (("p50", percentile(ms, 0.5)), ("p95", percentile(ms, 0.95)), ("max", max(ms) if ms else None)))


def excerpt(text, limit=MSG_EXCERPT_CHARS):
    """At most ``limit`` characters of ``text`` (whitespace folded), an ellipsis included."""
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[:max(0, limit - 3)] + "..."


class EndpointState(object):
    """Consecutive counters and the last answer of one endpoint."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        self.attempts = 0
        self.consecutive_ok = 0
        self.consecutive_hard = 0
        self.latencies = []
        self.answer = None
        self.verdict = None

    @property
    def healthy(self):
        return self.consecutive_ok >= self.endpoint["success_threshold"]

    def record(self, answer):
        self.attempts += 1
        self.answer = answer
        self.latencies.append(answer.latency)
        if answer.error:
            self.verdict = None
            self.consecutive_ok = 0
            self.consecutive_hard = self.consecutive_hard + 1 if answer.hard else 0
            return
        self.consecutive_hard = 0
        self.verdict = evaluate(answer.status, answer.body, answer.content_type, self.endpoint["expect"])
        self.consecutive_ok = self.consecutive_ok + 1 if self.verdict["healthy"] else 0

    def problem(self):
        """Why this endpoint is not (yet) healthy, in one line."""
        if self.answer is None:
            return "never probed"
        if self.answer.error:
            return self.answer.error
        if self.verdict["failures"]:
            return "; ".join(self.verdict["failures"])
        return "healthy %d time(s) in a row, %d needed" % (self.consecutive_ok, self.endpoint["success_threshold"])

    def report(self, return_body=False):
        """What to return about this endpoint; its body (raw and parsed) only when asked."""
        verdict = self.verdict or {}
        answer = self.answer
        report = {
            "name": self.endpoint["name"],
            "url": self.endpoint["url"],
            "healthy": self.healthy,
            "attempts": self.attempts,
            "consecutive_successes": self.consecutive_ok,
            "status": answer.status if answer else None,
            "error": answer.error if answer else None,
            "overall": verdict.get("overall"),
            "checks": verdict.get("checks", {}),
            "degraded": verdict.get("degraded", []),
            "failures": [] if self.healthy else [self.problem()],
            "latency_ms": latency_summary(self.latencies),
        }
        if return_body:
            report["json"] = verdict.get("json")
            report["body"] = excerpt(answer.body, RETURNED_BODY_CHARS) if answer and not answer.error else None
        return report


class Waiter(object):
    """Polls every endpoint until each has had success_threshold healthy answers in a row.

    Probes start on a fixed cadence (round start + interval), not "interval after the previous
    probe ended", so a service that turns healthy is seen within one interval.
    """

    def __init__(self, endpoints, params, prober, clock=time.monotonic, sleep=time.sleep):
        self.states = [EndpointState(e) for e in endpoints]
        self.params = params
        self.prober = prober
        self.clock = clock
        self.sleep = sleep
        self.gave_up = None

    def _timeout(self, deadline):
        timeout = self.params["timeout"]
        remaining = deadline - self.clock()
        # Never wait far past wait_timeout for a hanging answer, but give the last probe a fair chance.
        return min(timeout, max(remaining, min(timeout, 0.5)))

    def run(self):
        start = self.clock()
        deadline = start + self.params["wait_timeout"]
        waited = [s for s in self.states if not s.endpoint["confirm"]]
        if not waited or self._wait(waited, deadline):
            self._confirm([s for s in self.states if s.endpoint["confirm"]], deadline)
        return self.result(self.clock() - start)

    def _wait(self, states, deadline):
        """Probe ``states`` round after round until all are healthy (True) or the wait gives up."""
        params = self.params
        delay = params["interval"]
        while True:
            round_start = self.clock()
            for state in states:
                if not state.healthy:
                    state.record(self.prober.probe(state.endpoint, self._timeout(deadline)))
            if all(s.healthy for s in states):
                return True
            hard = [s for s in states if params["failure_threshold"] and s.consecutive_hard >= params["failure_threshold"]]
            if hard:
                self.gave_up = "%d consecutive hard failures (failure_threshold)" % hard[0].consecutive_hard
                return False
            if self.clock() >= deadline:
                self.gave_up = "wait_timeout of %gs" % params["wait_timeout"]
                return False
            self.sleep(max(0.0, min(round_start + delay, deadline) - self.clock()))
            delay = delay * params["backoff"]
            if params["max_interval"]:
                delay = min(delay, params["max_interval"])

    def _confirm(self, states, deadline):
        """One probe of each confirmation, once everything else is healthy: its answer is final (a
        service that is up but runs the wrong version will not change by waiting)."""
        for state in states:
            state.record(self.prober.probe(state.endpoint, self._timeout(deadline)))
            if not state.healthy and not self.gave_up:
                self.gave_up = "the confirmation %s" % state.endpoint["name"]

    def result(self, elapsed):
        return_body = bool(self.params.get("return_body"))
        reports = [s.report(return_body) for s in self.states]
        unhealthy = [r for r in reports if not r["healthy"]]
        main = unhealthy[0] if unhealthy else reports[-1]
        latencies = [x for s in self.states for x in s.latencies]
        result = {
            "healthy": not unhealthy,
            "attempts": sum(s.attempts for s in self.states),
            "elapsed": round(elapsed, 3),
            "status": main["status"],
            "checks": main["checks"],
            "degraded": sorted(set(n for r in reports for n in r["degraded"])),
            "latency_ms": latency_summary(latencies),
            "endpoints": reports,
        }
        if return_body:
            result["json"] = main["json"]
            result["body"] = main["body"]
        if unhealthy:
            result["msg"] = self.failure_message(elapsed)
        return result

    def failure_message(self, elapsed):
        parts = []
        for state in self.states:
            if state.healthy or (state.endpoint["confirm"] and state.answer is None):
                continue  # a confirmation never probed: what came before it failed
            answer = state.answer
            last = "last status %s" % answer.status if answer and answer.status is not None else "no HTTP answer"
            text = "%s: %s; %s" % (state.endpoint["name"], last, state.problem())
            if self.params.get("return_body") and answer and answer.body:
                text += "; body: %s" % excerpt(answer.body)
            parts.append(text)
        return "not healthy after %d attempt(s) in %.1fs, gave up on %s. %s" % (
            sum(s.attempts for s in self.states), elapsed, self.gave_up, " | ".join(parts))
