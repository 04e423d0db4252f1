"""Prometheus text parsing, JSON paths, option checks and the HTTP backend with a fake opener."""

import io

import pytest

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible_collections.medops.runbook.plugins.module_utils.queue_http import (
    HttpQueueError, HttpQueues, as_count, as_flag, dotted_get, parse_exposition, select_sum, validate)

EXPOSITION = r'''
# HELP holi_queue_jobs_active Jobs being processed
# TYPE holi_queue_jobs_active gauge
holi_queue_jobs_active{queue="sync",instance="a"} 2
holi_queue_jobs_active{queue="sync",instance="b",} 1 1700000000000
holi_queue_jobs_active{queue="mail"} 9
holi_queue_jobs_waiting {queue="sync"} 4.0
weird{path="a \"b\", c\\d\nline"} 3
up 1
nan_metric NaN
inf_metric +Inf
'''


def test_exposition_samples_labels_escapes_and_timestamps():
    samples = parse_exposition(EXPOSITION)
    assert ("up", {}, 1.0) in samples
    assert ("holi_queue_jobs_active", {"queue": "sync", "instance": "b"}, 1.0) in samples
    assert ("weird", {"path": 'a "b", c\\d\nline'}, 3.0) in samples
    assert ("holi_queue_jobs_waiting", {"queue": "sync"}, 4.0) in samples
    assert len(samples) == 8


def test_select_sum_adds_the_matching_instances_only():
    samples = parse_exposition(EXPOSITION)
    assert select_sum(samples, "holi_queue_jobs_active", {"queue": "sync"}) == 3
    assert select_sum(samples, "holi_queue_jobs_active", {}) == 12
    assert select_sum(samples, "holi_queue_jobs_active", {"queue": "nope"}) is None
    assert isinstance(select_sum(samples, "holi_queue_jobs_waiting", {"queue": "sync"}), int)
    with pytest.raises(HttpQueueError, match="not a count"):
        select_sum(samples, "nan_metric", {})
    with pytest.raises(HttpQueueError, match="not a count"):
        select_sum(samples, "inf_metric", {})


@pytest.mark.parametrize("line", ['m{a="b"', 'm{a=b} 1', "m", "m 1 2 3", "{a=\"b\"} 1", "m one"])
def test_broken_exposition_lines_name_the_line(line):
    with pytest.raises(HttpQueueError, match="metrics line 2 is not Prometheus text format"):
        parse_exposition("ok 1\n" + line)


def test_dotted_paths_in_dicts_and_lists():
    data = {"queue": {"counts": {"active": 2}, "list": [{"n": 1}, {"n": 5}]}, "a.b": 1}
    assert dotted_get(data, "queue.counts.active") == 2
    assert dotted_get(data, "queue.list.1.n") == 5
    assert dotted_get(data, "queue.list.-1.n") == 5
    assert dotted_get(data, "queue.list.7.n") is None
    assert dotted_get(data, "queue.nope") is None
    assert dotted_get(data, "queue.counts.active.deeper") is None


def test_counts_and_flags():
    assert as_count(3, "x") == 3 and as_count(3.0, "x") == 3 and as_count("12", "x") == 12 and as_count(None, "x") is None
    for bad in (True, "many", [1], {"a": 1}, "-1"):
        with pytest.raises(HttpQueueError, match="not a count"):
            as_count(bad, "x")
    assert as_flag(True, "x") is True and as_flag(0, "x") is False and as_flag("paused", "x") is True
    assert as_flag("false", "x") is False and as_flag(None, "x") is None
    with pytest.raises(HttpQueueError, match="not a paused flag"):
        as_flag("maybe", "x")


def params(**kw):
    out = dict(pause_url="http://svc/admin/queue/pause", resume_url="http://svc/admin/queue/resume", method="POST",
               headers={}, token=None, stats_url=None, stats_paths={}, metrics_url=None, metrics={},
               metrics_labels={}, timeout=5, validate_certs=True, ca_path=None)
    out.update(kw)
    return out


@pytest.mark.parametrize("kw, queues, state, message", [
    (dict(pause_url=None), ["q"], "paused", "needs pause_url"),
    (dict(resume_url=None), ["q"], "resumed", "needs resume_url"),
    (dict(pause_url="svc/pause"), ["q"], "paused", "pause_url must be an http"),
    (dict(metrics_url="http://svc/metrics"), ["q"], "paused", "metrics_url needs metrics"),
    (dict(metrics_url="http://svc/metrics", metrics={"waiting": "w"}), ["q"], "drained", "needs metrics.active"),
    (dict(), ["q"], "drained", "needs stats_url or metrics_url"),
    (dict(stats_url="http://svc/s", stats_paths={"running": "a"}), ["q"], "paused", "unknown key 'running'"),
    (dict(metrics_url="http://svc/m", metrics={"act": "a"}), ["q"], "paused", "unknown key 'act'"),
    (dict(), ["a", "b"], "paused", "no {queue} placeholder"),
])
def test_validate_rejects(kw, queues, state, message):
    with pytest.raises(HttpQueueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        validate(params(**kw), queues, state)


def test_validate_accepts_placeholders_for_several_queues():
    validate(params(pause_url="http://svc/q/{queue}/pause", resume_url="http://svc/q/{queue}/resume",
                    stats_url="http://svc/q/{queue}"), ["a", "b"], "drained")


class Response(object):
    def __init__(self, body, code=200):
        self.body, self.code = body, code

    def getcode(self):
        return self.code

    def read(self, _limit=None):
        return self.body


class Opener(object):
    """Answers by URL; records (method, url, headers)."""

    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, url, method=None, headers=None, **_kw):
        self.calls.append((method, url, dict(headers or {})))
        answer = self.answers[url]
        if isinstance(answer, Exception):
            raise answer
        return Response(answer)


def test_stats_status_pause_is_idempotent_and_sends_the_token():
    opener = Opener({"http://svc/q/a%2Fb/stats": b'{"paused": false, "active": 2, "waiting": "5"}',
                     "http://svc/q/a%2Fb/pause": b"{}"})
    backend = HttpQueues(params(stats_url="http://svc/q/{queue}/stats", pause_url="http://svc/q/{queue}/pause",
                                token="s3cret"), opener=opener)
    status = backend.status("a/b")
    counts = dict(waiting=5, active=2, delayed=None, prioritized=None, failed=None, completed=None)
    assert status == dict(exists=True, paused=False, counts=counts)
    assert backend.pause("a/b", status) is True
    assert opener.calls[-1] == ("POST", "http://svc/q/a%2Fb/pause", {"Authorization": "Bearer s3cret"})
    assert backend.pause("a/b", dict(status, paused=True)) is False
    assert len(opener.calls) == 2 and backend.warnings == []


def test_unknown_paused_state_calls_the_url_and_warns():
    opener = Opener({"http://svc/admin/queue/pause": b""})
    backend = HttpQueues(params(), opener=opener)
    status = backend.status("q")
    assert status == dict(exists=True, paused=None, counts={})
    assert backend.would_change("q", status, True) is True
    assert backend.pause("q", status) is True and "not visible" in backend.warnings[0]


def test_metrics_status_and_missing_queue():
    opener = Opener({"http://svc/metrics": EXPOSITION.encode()})
    backend = HttpQueues(params(metrics_url="http://svc/metrics", metrics_labels={"queue": "{queue}"},
                                metrics={"active": "holi_queue_jobs_active", "waiting": "holi_queue_jobs_waiting"}),
                         opener=opener)
    assert backend.status("sync") == dict(exists=True, paused=None, counts=dict(active=3, waiting=4))
    assert backend.status("ghost")["exists"] is False
    assert backend.active("sync") == 3


def test_http_errors_are_clear_and_hide_the_token():
    error = HTTPError("http://svc/admin/queue/pause", 403, "Forbidden", {}, io.BytesIO(b"token s3cret is not admin"))
    backend = HttpQueues(params(token="s3cret"), opener=Opener({"http://svc/admin/queue/pause": error}))
    with pytest.raises(HttpQueueError) as info:
        backend.pause("q", dict(exists=True, paused=False, counts={}))
    assert "answered HTTP 403" in str(info.value) and "s3cret" not in str(info.value)
    down = HttpQueues(params(stats_url="http://svc/stats"), opener=Opener({"http://svc/stats": URLError("refused")}))
    with pytest.raises(HttpQueueError, match="GET stats_url .* failed: refused"):
        down.status("q")
    missing = HttpQueues(params(stats_url="http://svc/stats"),
                         opener=Opener({"http://svc/stats": HTTPError("http://svc/stats", 404, "nf", {}, io.BytesIO(b""))}))
    assert missing.status("q")["exists"] is False
    notjson = HttpQueues(params(stats_url="http://svc/stats"), opener=Opener({"http://svc/stats": b"<html>"}))
    with pytest.raises(HttpQueueError, match="did not answer JSON"):
        notjson.status("q")
