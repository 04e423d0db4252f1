"""queue_pause with backend=bullmq against a real Redis and real BullMQ workers (subprocesses)."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from bullmq import Queue
from ansible_collections.medops.runbook.plugins.module_utils.queue_bullmq import BullMQQueues
from ansible_collections.medops.runbook.plugins.module_utils.queue_common import QueueRun
from harness.ansible import run_module
from qp_support import Producer, bullmq_call, redis_args


def wait_until(predicate, what, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def job_counts(redis_server, name, prefix="bull"):
    async def counts():
        queue = Queue(name, {"connection": redis_server.url, "prefix": prefix})
        try:
            return await queue.getJobCounts(), await queue.isPaused()
        finally:
            await queue.close()
    return bullmq_call(counts)


def add_jobs(redis_server, name, jobs, prefix="bull"):
    """jobs: [(data, opts)]; returns the ids."""
    async def add():
        queue = Queue(name, {"connection": redis_server.url, "prefix": prefix})
        try:
            return [(await queue.add("visit", data, opts)).id for data, opts in jobs]
        finally:
            await queue.close()
    return bullmq_call(add)


def queue_dump(client, name, prefix="bull"):
    """DUMP of every key of the queue (and TTLs), to prove that nothing was written."""
    keys = sorted(client.scan_iter(match=f"{prefix}:{name}:*", count=500))
    return {key: (client.dump(key), client.pttl(key)) for key in keys}


def test_pause_stops_a_live_worker_and_resume_runs_every_job_once(redis_server, bullmq_worker):
    worker = bullmq_worker(redis_server, "visits", concurrency=2)
    args = redis_args(redis_server, queues=["visits"])
    with Producer(redis_server.url, "visits") as producer:
        worker.wait_for(lambda ev: len(ev["completed"]) >= 10, "jobs flowing before the pause")
        paused = run_module("queue_pause", dict(args, state="paused"))
        paused_done = time.time()
        assert paused["changed"] is True and paused["queues"]["visits"]["paused"] is True, paused
        # the producer keeps adding while the queue is paused; give it enough jobs to prove the point
        while len(producer.ids_between(paused_done, time.time())) < 40:
            time.sleep(0.05)
        piled_up = redis_server.client().llen("bull:visits:wait")
        resume_called = time.time()
        resumed = run_module("queue_pause", dict(args, state="resumed"))
        assert resumed["changed"] is True and resumed["queues"]["visits"]["paused"] is False, resumed
        time.sleep(0.5)
    added = [job_id for job_id, _stamp in producer.added]
    worker.wait_for(lambda ev: {j for j, _stamp in ev["completed"]} >= set(added), "every job to complete")

    starts_while_paused = [(j, t) for j, t in worker.events()["start"] if paused_done <= t <= resume_called]
    assert starts_while_paused == [], "jobs started while the queue was paused: %s" % starts_while_paused[:5]
    added_while_paused = producer.ids_between(paused_done, resume_called)
    assert len(added_while_paused) >= 40
    assert piled_up >= 40, "the jobs added while paused wait in 'wait' (BullMQ 6 layout)"
    assert resumed["queues"]["visits"]["paused_before"] is True
    starts = worker.starts()
    assert set(starts) == set(added), "jobs started that nobody added, or added jobs never ran"
    assert [j for j, n in starts.items() if n != 1] == [], "a job ran more than once"
    completed = Counter(j for j, _stamp in worker.events()["completed"])
    assert set(completed) == set(added) and set(completed.values()) == {1}, "a job completed twice or never"
    first_start_after = min(t for j, t in worker.events()["start"] if j in set(added_while_paused))
    assert first_start_after > resume_called


def test_drained_waits_for_long_running_jobs(redis_server, bullmq_worker, tmp_path):
    worker = bullmq_worker(redis_server, "reports", concurrency=3)
    holds = [tmp_path / f"release-{n}" for n in range(3)]
    long_ids = add_jobs(redis_server, "reports", [({"hold": str(h)}, {}) for h in holds])
    worker.wait_for(lambda ev: {j for j, _stamp in ev["start"]} >= set(long_ids), "the long jobs to start")
    queued_ids = add_jobs(redis_server, "reports", [({"sleep": 0}, {}) for _n in range(5)])

    client = redis_server.client()
    with ThreadPoolExecutor(1) as pool:
        drain = pool.submit(run_module, "queue_pause", redis_args(redis_server, queues=["reports"], state="drained",
                                                                  poll_interval=0.2, drain_timeout=120))
        wait_until(lambda: client.hexists("bull:reports:meta", "paused"), "the module to pause the queue")
        for hold in holds:  # the long jobs end one by one while the module waits
            time.sleep(0.5)
            hold.touch()
        result = drain.result()
    assert result["changed"] is True and result["drained"] is True and result["timed_out"] is False, result
    events = worker.events()
    ends = dict(events["end"])
    completed = dict(events["completed"])
    # the pause landed before the long jobs ended: none of the queued jobs ran
    assert set(ends) == {j for j, _stamp in events["start"]} == set(long_ids)
    # ordering: the drain started while the long jobs ran, its last busy poll came before the last job
    # left 'active', and the next poll (one poll_interval later) found the queue idle after it ended
    assert result["drain_started_at"] < min(ends.values())
    assert result["drain_last_busy_at"] < max(completed.values())
    assert max(ends.values()) < result["drain_finished_at"]
    assert result["polls"] >= 2
    assert result["queues"]["reports"]["counts"]["active"] == 0
    assert result["queues"]["reports"]["counts"]["waiting"] == len(queued_ids)
    assert result["queues"]["reports"]["paused"] is True

    resumed = run_module("queue_pause", redis_args(redis_server, queues=["reports"], state="resumed"))
    assert resumed["changed"] is True
    worker.wait_for(lambda ev: {j for j, _stamp in ev["completed"]} >= set(queued_ids), "the queued jobs after resume")
    assert [j for j, n in worker.starts().items() if n != 1] == []


def test_drain_timeout_fails_and_leaves_the_queue_paused(redis_server, bullmq_worker, tmp_path):
    worker = bullmq_worker(redis_server, "slow", concurrency=1)
    hold = tmp_path / "release"
    (slow_id,) = add_jobs(redis_server, "slow", [({"hold": str(hold)}, {})])
    worker.wait_for(lambda ev: ev["start"], "the slow job to start")
    result = run_module("queue_pause", redis_args(redis_server, queues=["slow"], state="drained",
                                                  poll_interval=0.2, drain_timeout=0.5))
    assert result["failed"] is True and result["timed_out"] is True and result["drained"] is False
    assert "stay PAUSED" in result["msg"] and "slow: 1" in result["msg"], result["msg"]
    assert result["queues"]["slow"]["paused"] is True and result["changed"] is True
    assert "Traceback" not in result["_run"].output
    counts, is_paused = job_counts(redis_server, "slow")
    assert is_paused is True and counts["active"] == 1
    hold.touch()
    worker.wait_for(lambda ev: dict(ev["completed"]).get(slow_id), "the slow job to finish anyway")


def test_counts_equal_bullmq_get_job_counts(redis_server, bullmq_worker, tmp_path):
    worker = bullmq_worker(redis_server, "mixed", concurrency=1)
    add_jobs(redis_server, "mixed", [({"fail": True}, {}), ({"fail": True}, {}), ({}, {}), ({}, {}), ({}, {})])
    worker.wait_for(lambda ev: len(ev["completed"]) == 3 and len(ev["failed"]) == 2, "finished and failed jobs")
    hold = tmp_path / "release"
    (long_id,) = add_jobs(redis_server, "mixed", [({"hold": str(hold)}, {})])
    worker.wait_for(lambda ev: long_id in dict(ev["start"]), "the long job to be active")
    args = redis_args(redis_server, queues=["mixed"], state="paused")
    assert run_module("queue_pause", args)["changed"] is True
    add_jobs(redis_server, "mixed", [({}, {}), ({}, {}), ({}, {}), ({}, {"priority": 3}), ({}, {"priority": 7}),
                                     ({}, {"delay": 600000})])

    result = run_module("queue_pause", args)
    counts, is_paused = job_counts(redis_server, "mixed")
    ours = result["queues"]["mixed"]["counts"]
    assert result["changed"] is False and is_paused is True
    assert counts == {"waiting": 3, "active": 1, "delayed": 1, "prioritized": 2, "failed": 2, "completed": 3,
                      "waiting-children": 0}
    for name, value in counts.items():
        assert ours[name.replace("-", "_")] == value, (name, ours, counts)
    assert ours["paused"] == 0
    # the same counts when the queue runs again
    resumed = run_module("queue_pause", dict(args, state="resumed"))
    counts_after, _paused = job_counts(redis_server, "mixed")
    assert resumed["queues"]["mixed"]["counts"]["delayed"] == counts_after["delayed"] == 1
    assert resumed["queues"]["mixed"]["counts"]["failed"] == counts_after["failed"] == 2
    hold.touch()


def test_check_mode_writes_nothing(redis_server):
    add_jobs(redis_server, "audit", [({}, {}), ({}, {"priority": 2}), ({}, {"delay": 600000})])
    client = redis_server.client()
    before = queue_dump(client, "audit")
    assert before, "the queue should have keys"
    args = dict(queues=["audit"], redis_url=redis_server.url)  # the URL form of the connection options
    queues = BullMQQueues(client)

    result = run_module("queue_pause", dict(args, state="paused"), check=True)
    assert result["changed"] is True and result["queues"]["audit"]["paused"] is True, result
    assert result["queues"]["audit"]["paused_before"] is False
    assert queue_dump(client, "audit") == before
    drained = QueueRun(queues, ["audit"], "drained", check_mode=True).run()
    assert drained["changed"] is True and drained["drained"] is True and drained["polls"] == 0
    assert queue_dump(client, "audit") == before

    assert queues.pause("audit", queues.status("audit")) is True
    paused_dump = queue_dump(client, "audit")
    assert paused_dump != before
    result = run_module("queue_pause", dict(args, state="resumed"), check=True)
    assert result["changed"] is True and result["queues"]["audit"]["paused"] is False
    assert queue_dump(client, "audit") == paused_dump
    assert QueueRun(queues, ["audit"], "paused", check_mode=True).run()["changed"] is False
    assert queue_dump(client, "audit") == paused_dump


def test_pause_does_what_bullmq_pause_does(redis_server):
    """The keys after our pause/resume equal those after BullMQ's own, apart from event ids."""
    for name in ("ours", "theirs"):
        add_jobs(redis_server, name, [({}, {}), ({}, {}), ({}, {"priority": 2}), ({}, {"delay": 600000})])
    client = redis_server.client()

    def shape(name):
        out = {}
        for key in client.scan_iter(match=f"bull:{name}:*"):
            suffix = key.decode().split(":", 2)[2]
            kind = client.type(key).decode()
            if kind == "list":
                value = client.lrange(key, 0, -1)
            elif kind == "zset" and suffix == "delayed":
                value = client.zrange(key, 0, -1)  # scores are timestamps
            elif kind == "zset":
                value = client.zrange(key, 0, -1, withscores=True)
            elif kind == "hash":
                value = client.hgetall(key) if not suffix[:1].isdigit() else "job"
            elif kind == "stream":
                value = [{k: v for k, v in fields.items() if k != b"delay"} for _id, fields in client.xrange(key)]
            else:
                value = kind
            out[suffix] = value
        return out

    async def bullmq_pause(resume):
        queue = Queue("theirs", {"connection": redis_server.url})
        try:
            await (queue.resume() if resume else queue.pause())
        finally:
            await queue.close()

    args = redis_args(redis_server, queues=["ours"])
    run_module("queue_pause", dict(args, state="paused"))
    bullmq_call(lambda: bullmq_pause(False))
    assert shape("ours") == shape("theirs")
    run_module("queue_pause", dict(args, state="resumed"))
    bullmq_call(lambda: bullmq_pause(True))
    assert shape("ours") == shape("theirs")
    assert [f[b"event"] for f in shape("ours")["events"][-2:]] == [b"paused", b"resumed"]


def test_several_queues_missing_ok_and_bullmq5_layout(redis_server, bullmq_worker):
    add_jobs(redis_server, "a", [({}, {}), ({}, {})])
    add_jobs(redis_server, "b", [({}, {})])
    args = redis_args(redis_server, queues=["a", "b", "ghost"])
    failed = run_module("queue_pause", dict(args, state="paused"))
    assert failed["failed"] is True and "ghost" in failed["msg"] and "nothing was changed" in failed["msg"]
    assert job_counts(redis_server, "a")[1] is False

    # BullMQ 5 keeps a paused queue's jobs in the 'paused' list
    result = run_module("queue_pause", dict(args, state="paused", missing_ok=True, bullmq_version="5"))
    assert result["missing"] == ["ghost"] and result["queues"]["ghost"]["exists"] is False
    assert result["queues"]["a"]["counts"]["paused"] == 2 and result["queues"]["a"]["counts"]["waiting"] == 0
    assert result["queues"]["a"]["layout"] == "5"
    client = redis_server.client()
    assert client.exists("bull:a:wait") == 0 and client.llen("bull:a:paused") == 2
    resumed = run_module("queue_pause", dict(args, state="resumed", missing_ok=True, bullmq_version="5"))
    assert resumed["queues"]["a"]["counts"]["waiting"] == 2 and resumed["queues"]["b"]["paused"] is False
    worker = bullmq_worker(redis_server, "a")
    worker.wait_for(lambda ev: len(ev["completed"]) == 2, "both jobs of queue a")

    # a BullMQ 6 resume folds a legacy paused list back into wait (in chunks, oldest first)
    client.hset("bull:b:meta", "paused", 1)
    client.rpush("bull:b:paused", "900", "901")
    queues = BullMQQueues(client, resume_chunk=1)  # one id per script call: the chunked path
    resumed = QueueRun(queues, ["b"], "resumed").run()
    assert resumed["changed"] is True and client.exists("bull:b:paused") == 0
    assert resumed["queues"]["b"]["paused"] is False and client.zscore("bull:b:marker", "0") == 0
    assert client.lrange("bull:b:wait", 0, -1)[-2:] == [b"900", b"901"]
