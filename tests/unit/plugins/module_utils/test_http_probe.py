"""The wait loop (with a fake clock and prober), option validation, and the Request on 2.16 and 2.17+."""

import ssl

import pytest

from ansible.module_utils.ansible_release import __version__ as ANSIBLE_VERSION
from ansible.module_utils.urls import Request

from harness.fakes import FakeClock
from harness.http import HttpService, Reply

from ansible_collections.medops.runbook.plugins.module_utils.http_probe import (
    Answer, ProbeConfigError, Prober, Waiter, build_endpoints, make_request, percentile, request_takes_context)

DEFAULTS = dict(url=None, urls=None, method="GET", headers={}, body=None, body_format="raw", status_codes=[200],
                json_checks=[], body_regex=None, interpret_body=True, allow_degraded=False, success_threshold=1,
                failure_threshold=None, timeout=5.0, wait_timeout=60.0, interval=2.0, backoff=1.0, max_interval=None,
                validate_certs=True, ca_path=None, client_cert=None, client_key=None, url_username=None,
                url_password=None, bearer_token=None, follow_redirects="safe", use_proxy=True, return_body=False)


def params(**kw):
    out = dict(DEFAULTS)
    out.update(kw)
    return out


class ScriptedProber(object):
    """Answers from a list (the last one repeats); each probe takes 0.1 s of fake time."""

    def __init__(self, clock, answers):
        self.clock, self.answers, self.calls = clock, list(answers), 0

    def probe(self, endpoint, timeout):
        self.calls += 1
        self.clock.now += 0.1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


OK = Answer(200, '{"status": "ok"}', "application/json", latency=0.1)
BAD = Answer(503, '{"status": "fail", "checks": {"db": "down"}}', "application/json", latency=0.1)
REFUSED = Answer(error="connection refused", hard=True, latency=0.1)


def wait(answers, **kw):
    clock = FakeClock()
    p = params(url="http://svc/health", **kw)
    prober = ScriptedProber(clock, answers)
    return Waiter(build_endpoints(p), p, prober, clock=clock, sleep=clock.sleep).run(), clock, prober


def test_becomes_healthy_on_a_fixed_cadence():
    result, clock, dummy = wait([BAD, BAD, OK], interval=2.0)
    assert result["healthy"] and result["attempts"] == 3
    assert clock.sleeps == [1.9, 1.9]  # probe time is part of the interval, not added to it


def test_flap_does_not_pass_success_threshold():
    result, dummy, prober = wait([OK, BAD, OK, OK, BAD, OK, OK, OK], success_threshold=3)
    assert result["healthy"]
    assert prober.calls == 8


def test_gives_up_at_wait_timeout_naming_the_condition():
    # The body excerpt in the message is asked for (return_body): by default no body is quoted.
    result, clock, dummy = wait([BAD], wait_timeout=10, interval=2, return_body=True)
    assert not result["healthy"]
    assert clock.now == pytest.approx(10.1)
    assert "http://svc/health: last status 503" in result["msg"]
    assert "status 503 not in [200]" in result["msg"] and "db=down" in result["msg"]
    assert '"status": "fail"' in result["msg"]
    assert result["degraded"] == ["db"]


MARKER = "PATIENT-MARKER-4b1d"
BIG = Answer(503, "x" * 1000 + MARKER + "y" * (5000 - 1000 - len(MARKER)), "text/html", latency=0.1)


def test_no_body_leaves_the_module_unless_asked():
    result, dummy, dummy2 = wait([BAD], wait_timeout=0)
    assert "body" not in result and "json" not in result
    assert all("body" not in e and "json" not in e for e in result["endpoints"])
    assert "last status 503" in result["msg"] and "db=down" in result["msg"]
    assert '"status": "fail"' not in result["msg"] and "body:" not in result["msg"]
    assert result["checks"] == {"db": "down"} and result["degraded"] == ["db"]


def test_returned_body_and_message_excerpt_are_bounded():
    result, dummy, dummy2 = wait([BIG], wait_timeout=0, return_body=True)
    quoted = result["msg"].split("; body: ", 1)[1]
    assert len(quoted) <= 200 and quoted.endswith("...") and MARKER not in result["msg"]
    assert len(result["body"]) <= 4096 and MARKER in result["body"]
    assert result["endpoints"][0]["body"] == result["body"] and result["json"] is None


def test_large_body_is_not_in_the_default_result():
    result, dummy, dummy2 = wait([BIG], wait_timeout=0)
    assert MARKER not in repr(result) and "xxxx" not in repr(result)


def test_failure_threshold_gives_up_early_on_hard_failures():
    result, dummy, prober = wait([REFUSED], failure_threshold=3, wait_timeout=60)
    assert not result["healthy"] and prober.calls == 3
    assert "3 consecutive hard failures" in result["msg"] and "no HTTP answer; connection refused" in result["msg"]


def test_soft_failures_reset_the_hard_count():
    prober = wait([REFUSED, REFUSED, BAD, REFUSED, REFUSED, OK], failure_threshold=3)[2]
    assert prober.calls == 6


def test_backoff_grows_to_the_cap():
    clock = wait([BAD, BAD, BAD, BAD, OK], interval=1, backoff=2, max_interval=3)[1]
    assert clock.sleeps == [0.9, 1.9, 2.9, 2.9]


def test_wait_timeout_zero_probes_once():
    result, dummy, prober = wait([BAD], wait_timeout=0)
    assert prober.calls == 1 and not result["healthy"]


def test_several_endpoints_each_with_overrides():
    p = params(urls=["http://a/health", {"url": "http://b/health", "status_codes": [200, 503], "allow_degraded": True,
                                         "name": "b", "success_threshold": 2}])
    a, b = build_endpoints(p)
    assert a["expect"]["status_codes"] == [200] and a["success_threshold"] == 1
    assert b["name"] == "b" and b["expect"]["status_codes"] == [200, 503] and b["expect"]["allow_degraded"]
    assert b["success_threshold"] == 2


def test_endpoint_overrides_from_templated_strings():
    (ep,) = build_endpoints(params(urls=[{"url": "http://a/", "allow_degraded": "no", "interpret_body": "yes",
                                          "success_threshold": "3", "status_codes": ["200", "204"]}]))
    assert ep["expect"]["allow_degraded"] is False and ep["expect"]["interpret_body"] is True
    assert ep["success_threshold"] == 3 and ep["expect"]["status_codes"] == [200, 204]


def test_bearer_token_becomes_a_header_and_json_body_is_encoded():
    (ep,) = build_endpoints(params(url="http://a/", bearer_token="t0k", method="post", body={"a": 1}, body_format="json"))
    assert ep["headers"]["Authorization"] == "Bearer t0k"
    assert ep["headers"]["Content-Type"] == "application/json" and ep["data"] == b'{"a": 1}' and ep["method"] == "POST"


@pytest.mark.parametrize("kw, message", [
    (dict(url="localhost:8080/health"), "has no scheme"),
    (dict(url="ftp://host/health"), "scheme 'ftp' is not supported"),
    (dict(url="http://"), "has no host"),
    (dict(url="http://host:99999/"), "invalid port"),
    (dict(url="http://h/", timeout=-1), "timeout must be greater than 0"),
    (dict(url="http://h/", interval=0), "interval must be greater than 0"),
    (dict(url="http://h/", wait_timeout=-5), "wait_timeout must be 0 or more"),
    (dict(url="http://h/", backoff=0.5), "backoff must be 1"),
    (dict(url="http://h/", interval=5, max_interval=1), "max_interval (1) must not be less than interval (5)"),
    (dict(url="http://h/", success_threshold=0), "success_threshold must be 1 or more"),
    (dict(url="http://h/", failure_threshold=-2), "failure_threshold must be 0"),
    (dict(url="http://h/", status_codes=[42]), "status code 42 is outside 100-599"),
    (dict(url="http://h/", body_regex="(unclosed"), "not a valid regular expression"),
    (dict(url="http://h/", json_checks=[{"path": "status", "like": "ok"}]), "unknown operator 'like'"),
    (dict(urls=[]), "give url, or urls"),
    (dict(urls=[{"href": "http://h/"}]), "unknown key(s) href"),
    (dict(urls=[{"name": "x"}]), "a URL is required"),
    (dict(urls=[{"url": "http://h/", "method": "FETCH"}]), "method 'FETCH'"),
    (dict(url="http://h/", ca_path="/nonexistent/ca.pem"), "ca_path '/nonexistent/ca.pem' does not exist"),
    (dict(url="http://h/", body={"a": 1}), "body must be a string"),
    (dict(urls=[{"url": "http://h/", "allow_degraded": "maybe"}]), "allow_degraded must be a boolean"),
    (dict(urls=[{"url": "http://h/", "success_threshold": "many"}]), "success_threshold must be an integer"),
])
def test_bad_options(kw, message):
    with pytest.raises(ProbeConfigError) as info:
        build_endpoints(params(**kw))
    assert message in str(info.value)


def test_percentile_is_nearest_rank():
    assert percentile([5, 1, 3, 2, 4], 0.5) == 3
    assert percentile(list(range(1, 101)), 0.95) == 95
    assert percentile([], 0.5) is None


# --- The Request on ansible-core 2.16 (no ``context`` argument) and on 2.17+ (``context``) ---


class Request216(Request):
    """The installed Request behind ansible-core 2.16's constructor, which has no ``context``."""

    def __init__(self, headers=None, use_proxy=True, force=False, timeout=10, validate_certs=True,
                 url_username=None, url_password=None, http_agent=None, force_basic_auth=False,
                 follow_redirects='urllib2', client_cert=None, client_key=None, cookies=None, unix_socket=None,
                 ca_path=None, unredirected_headers=None, decompress=True, ciphers=None, use_netrc=True):
        self.seen = dict(validate_certs=validate_certs, ca_path=ca_path, client_cert=client_cert, client_key=client_key)
        super(Request216, self).__init__(
            headers=headers, use_proxy=use_proxy, force=force, timeout=timeout, validate_certs=validate_certs,
            url_username=url_username, url_password=url_password, http_agent=http_agent,
            force_basic_auth=force_basic_auth, follow_redirects=follow_redirects, client_cert=client_cert,
            client_key=client_key, cookies=cookies, unix_socket=unix_socket, ca_path=ca_path,
            unredirected_headers=unredirected_headers, decompress=decompress, ciphers=ciphers, use_netrc=use_netrc)


class Recorder(object):
    """Keeps the keyword arguments it was built with."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs


class Recorder217(Recorder):
    def __init__(self, validate_certs=True, ca_path=None, client_cert=None, client_key=None, context=None, **kwargs):
        super(Recorder217, self).__init__(validate_certs=validate_certs, ca_path=ca_path, client_cert=client_cert,
                                          client_key=client_key, context=context, **kwargs)


class Recorder216(Recorder):
    def __init__(self, validate_certs=True, ca_path=None, client_cert=None, client_key=None, **kwargs):
        super(Recorder216, self).__init__(validate_certs=validate_certs, ca_path=ca_path, client_cert=client_cert,
                                          client_key=client_key, **kwargs)


def test_installed_ansible_core_is_detected():
    major, minor = (int(x) for x in ANSIBLE_VERSION.split(".")[:2])
    assert request_takes_context(Request) == ((major, minor) >= (2, 17))
    assert not request_takes_context(Request216)


def test_with_context_one_prebuilt_context_and_the_tls_options():
    request = make_request(params(validate_certs=False), Recorder217)
    assert isinstance(request.kwargs["context"], ssl.SSLContext)
    assert request.kwargs["context"].verify_mode == ssl.CERT_NONE
    assert request.kwargs["validate_certs"] is False


def test_without_context_the_tls_options_only():
    request = make_request(params(validate_certs=False, follow_redirects="none"), Recorder216)
    assert "context" not in request.kwargs
    assert request.kwargs["validate_certs"] is False and request.kwargs["ca_path"] is None
    assert request.kwargs["follow_redirects"] == "none" and request.kwargs["use_netrc"] is False


@pytest.mark.parametrize("request_class", [Recorder217, Recorder216])
def test_unreadable_tls_files_are_refused_on_both_paths(tmp_path, request_class):
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ProbeConfigError, match="cannot load the TLS files"):
        make_request(params(ca_path=str(bad)), request_class)


@pytest.mark.parametrize("request_class", [Request, Request216], ids=["installed", "2.16-shaped"])
def test_both_paths_probe_a_real_service(request_class):
    p = params(url="http://placeholder/health")
    with HttpService({"/health": lambda req: Reply(200, {"status": "ok"})}) as svc:
        p["url"] = svc.url("/health")
        prober = Prober(p, request_class)
        answer = prober.probe(build_endpoints(p)[0], 5.0)
    assert answer.error is None and answer.status == 200
    assert '"ok"' in answer.body
    if request_class is Request216:
        assert prober.request.seen["validate_certs"] is True


class RoutedProber(object):
    """Answers per endpoint name from lists (the last one repeats); records the order of the probes."""

    def __init__(self, clock, answers):
        self.clock, self.answers, self.order = clock, {k: list(v) for k, v in answers.items()}, []

    def probe(self, endpoint, timeout):
        self.order.append(endpoint["name"])
        self.clock.now += 0.1
        queue = self.answers[endpoint["name"]]
        return queue.pop(0) if len(queue) > 1 else queue[0]


def confirm_wait(answers, **kw):
    clock = FakeClock()
    p = params(urls=["http://svc/health", {"url": "http://svc/version", "name": "version", "confirm": True,
                                           "json_checks": [{"path": "version", "is": "1.1.0"}]}], **kw)
    prober = RoutedProber(clock, answers)
    return Waiter(build_endpoints(p), p, prober, clock=clock, sleep=clock.sleep).run(), prober


V110 = Answer(200, '{"version": "1.1.0"}', "application/json", latency=0.1)
V100 = Answer(200, '{"version": "1.0.0"}', "application/json", latency=0.1)


def test_a_confirmation_is_asked_once_after_the_others_are_healthy():
    result, prober = confirm_wait({"http://svc/health": [BAD, OK, OK], "version": [V110]}, success_threshold=2)
    assert result["healthy"]
    assert prober.order == ["http://svc/health"] * 3 + ["version"]


def test_a_wrong_confirmation_fails_at_once_and_says_why():
    result, prober = confirm_wait({"http://svc/health": [OK], "version": [V100, V110]}, wait_timeout=60)
    assert not result["healthy"] and prober.order == ["http://svc/health", "version"]
    assert "gave up on the confirmation version" in result["msg"] and "1.0.0" in result["msg"]


def test_a_confirmation_is_not_asked_when_the_wait_fails():
    result, prober = confirm_wait({"http://svc/health": [BAD], "version": [V110]}, wait_timeout=1, interval=0.5)
    assert not result["healthy"] and "version" not in prober.order
    assert "wait_timeout" in result["msg"] and "version:" not in result["msg"]


def test_a_confirmation_needs_one_answer_whatever_the_threshold():
    dummy, confirmation = build_endpoints(params(urls=["http://a/", {"url": "http://b/", "confirm": "yes"}], success_threshold=3))
    assert confirmation["confirm"] is True and confirmation["success_threshold"] == 1
