"""queue_pause with backend=http against a real local HTTP admin service, and bad inputs."""

from __future__ import annotations

import json
import threading

from harness.ansible import run_module, run_module_cases
from harness.http import Reply
from medops_lab.servers import free_port
from qp_support import redis_args

TOKEN = "admin-token-5f2e9c7a1b3d"


class AdminApi:
    """A queue service in the style of the Holi Labs runbook: /admin/queue/{pause,resume,stats}, /metrics.

    Active jobs finish one per metrics/stats read once the queue is paused, as a draining worker would.
    """

    def __init__(self, active=3, waiting=7):
        self.paused = False
        self.active = active
        self.waiting = waiting
        self.calls = []
        self.lock = threading.Lock()

    def _authorized(self, request):
        return request.headers.get("Authorization") == f"Bearer {TOKEN}"

    def switch(self, paused):
        def handler(request):
            if request.method != "POST":
                return Reply(405, {"error": "POST only"})
            if not self._authorized(request):
                return Reply(401, {"error": "bad token"})
            with self.lock:
                self.calls.append("pause" if paused else "resume")
                self.paused = paused
            return Reply(200, {"ok": True, "paused": paused})
        return handler

    def _tick(self):
        with self.lock:
            if self.paused and self.active:
                self.active -= 1
            return self.active

    def metrics(self, _request):
        active = self._tick()
        text = "\n".join([
            "# HELP holi_queue_jobs_active Jobs being processed",
            "# TYPE holi_queue_jobs_active gauge",
            f'holi_queue_jobs_active{{queue="fhir-sync",instance="api-1"}} {active}',
            'holi_queue_jobs_active{queue="fhir-sync",instance="api-2"} 0',
            'holi_queue_jobs_active{queue="emails"} 9',
            f'holi_queue_jobs_waiting{{queue="fhir-sync",instance="api-1"}} {self.waiting}',
            f'holi_queue_paused{{queue="fhir-sync",instance="api-1"}} {1 if self.paused else 0}',
            'holi_http_requests_total{method="GET",path="/a \\"quoted\\", path"} 1027 1700000000000',
            "process_start_time_seconds 1.7e+09",
            "",
        ])
        return Reply(200, text, {"Content-Type": "text/plain; version=0.0.4"})

    def stats(self, _request):
        active = self._tick()
        return Reply(200, {"queue": {"name": "fhir-sync", "paused": self.paused,
                                     "counts": {"waiting": self.waiting, "active": active, "failed": 0}}})

    def routes(self):
        return {"/admin/queue/pause": self.switch(True), "/admin/queue/resume": self.switch(False),
                "/metrics": self.metrics, "/admin/queue/stats": self.stats,
                "/admin/queues/ghost/stats": lambda request: Reply(404, {"error": "no such queue"})}


def http_args(service, **extra):
    args = dict(backend="http", queues=["fhir-sync"], pause_url=service.url("/admin/queue/pause"),
                resume_url=service.url("/admin/queue/resume"), token=TOKEN)
    args.update(extra)
    return args


def test_http_drain_with_prometheus_metrics(http_service):
    api = AdminApi(active=3)
    service = http_service(api.routes())
    metrics = dict(metrics_url=service.url("/metrics"),
                   metrics=dict(active="holi_queue_jobs_active", waiting="holi_queue_jobs_waiting",
                                paused="holi_queue_paused"),
                   metrics_labels=dict(queue="{queue}"))
    drained = run_module("queue_pause", http_args(service, state="drained", poll_interval=0.1, drain_timeout=60,
                                                  **metrics), "-vvv")
    assert drained["changed"] is True and drained["drained"] is True, drained
    assert api.calls == ["pause"] and api.paused is True
    # three active jobs ended one per read: the module kept polling until the gauge read 0
    assert drained["polls"] >= 3 and drained["queues"]["fhir-sync"]["counts"] == {"active": 0, "waiting": 7}
    assert drained["queues"]["fhir-sync"]["paused_before"] is False
    assert TOKEN not in drained["_run"].output

    again = run_module("queue_pause", http_args(service, state="paused", **metrics))
    assert again["changed"] is False and api.calls == ["pause"]


def test_http_json_stats_resume_check_mode_and_missing_queue(http_service):
    api = AdminApi(active=0)
    api.paused = True
    service = http_service(api.routes())
    stats = dict(stats_url=service.url("/admin/queue/stats"),
                 stats_paths=dict(waiting="queue.counts.waiting", active="queue.counts.active",
                                  failed="queue.counts.failed", paused="queue.paused"))

    checked = run_module("queue_pause", http_args(service, state="resumed", **stats), check=True)
    assert checked["changed"] is True and checked["queues"]["fhir-sync"]["paused"] is False
    assert api.calls == [] and api.paused is True

    resumed = run_module("queue_pause", http_args(service, state="resumed", **stats))
    assert resumed["changed"] is True and api.calls == ["resume"]
    assert resumed["queues"]["fhir-sync"]["counts"]["waiting"] == 7
    assert resumed["queues"]["fhir-sync"]["counts"]["delayed"] is None  # no such path in the document

    ghost = http_args(service, state="paused", queues=["ghost"], missing_ok=True, stats_paths=stats["stats_paths"],
                      pause_url=service.url("/admin/queues/{queue}/pause"),
                      stats_url=service.url("/admin/queues/{queue}/stats"))
    missing = run_module("queue_pause", ghost)
    assert missing["changed"] is False and missing["missing"] == ["ghost"], missing
    assert api.calls == ["resume"]


def test_bad_inputs_fail_clearly(redis_server, http_service):
    service = http_service(AdminApi().routes())
    dead_port = free_port()
    url = service.url("/admin/queue/pause")
    redis = redis_args(redis_server, queues=["q"], state="paused")
    redis_server.client().hset("bull:q:meta", "opts.maxLenEvents", 10000)
    cases = [
        (dict(redis, queues=[]), "at least one queue"),
        (dict(redis, state="stopped"), "value of state must be one of"),
        (dict(backend="http", state="paused", queues=["q"]), "needs pause_url"),
        (dict(backend="http", state="paused", queues=["q"], pause_url="ftp://example.org/p"), "http:// or https://"),
        (dict(backend="http", state="drained", queues=["q"], pause_url=url), "needs stats_url or metrics_url"),
        (dict(backend="http", state="paused", queues=["q"], pause_url=url, stats_url=url, metrics_url=url),
         "mutually exclusive"),
        (dict(redis, poll_interval=0), "poll_interval must be more than 0"),
        (dict(redis, redis_port=70000), "redis_port must be between 1 and 65535"),
        (dict(redis, redis_password="not-the-password"), "refused the credentials"),
        (dict(redis, redis_port=dead_port, redis_timeout=3), f"cannot reach Redis at 127.0.0.1:{dead_port}"),
        (dict(redis, queues=["q", "nope"]), "nope not found"),
        (dict(redis, queues=["q", "q"]), "lists a name twice"),
        (dict(redis, redis_url="http://127.0.0.1:6379/0"), "must start with redis://"),
        (dict(backend="http", state="paused", queues=["a", "b"], pause_url=url), "no {queue} placeholder"),
    ]
    results = run_module_cases("queue_pause", [case[0] for case in cases])
    for (args, expected), result in zip(cases, results):
        output = result["_run"].output
        assert result.get("failed") is True, (args, result)
        assert expected in result["msg"], (expected, result["msg"])
        assert "Traceback" not in output and "Traceback" not in json.dumps({k: v for k, v in result.items() if k != "_run"})
        assert redis_server.password not in output and "not-the-password" not in output
        assert result.get("changed") is not True
    assert redis_server.client().hexists("bull:q:meta", "paused") is False
