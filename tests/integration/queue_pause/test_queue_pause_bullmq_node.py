"""queue_pause against the Node.js BullMQ (the reference implementation); passed with npm bullmq 5.81.3 and 6.2.0.

Needs ``node`` and npm: ``bullmq@5`` and ``ioredis`` are installed on first use into ``.bullmq-node/``
beside this file (git-ignored) and reused; QP_BULLMQ_NODE_DIR names another directory (e.g. one with
``bullmq@6``).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from harness.ansible import run_module
from harness.npm import ensure_npm_packages
from qp_support import redis_args

NODE_DIR = Path(os.environ.get("QP_BULLMQ_NODE_DIR") or Path(__file__).with_name(".bullmq-node"))
HELPER = Path(__file__).with_name("bullmq_node.js")


@pytest.fixture(scope="module", autouse=True)
def bullmq_node_installed():
    ensure_npm_packages(NODE_DIR, ["bullmq@5", "ioredis"], "bullmq")


def node_env(redis_server):
    return dict(os.environ, QP_REDIS_URL=redis_server.url, NODE_PATH=str(Path(NODE_DIR, "node_modules")))


def node(redis_server, *args):
    proc = subprocess.run(["node", str(HELPER), *args], env=node_env(redis_server), capture_output=True, text=True,
                          timeout=60, check=True)
    return proc.stdout


def shape(client, name):
    """The queue's keys with their contents (job hashes and timestamps left out)."""
    out = {}
    for key in client.scan_iter(match=f"bull:{name}:*"):
        suffix = key.decode().split(":", 2)[2]
        kind = client.type(key).decode()
        if kind == "list":
            out[suffix] = client.lrange(key, 0, -1)
        elif kind == "zset":
            out[suffix] = client.zrange(key, 0, -1, withscores=suffix != "delayed")
        elif kind == "hash":
            out[suffix] = "job" if suffix[:1].isdigit() else client.hgetall(key)
        elif kind == "stream":
            out[suffix] = [{k: v for k, v in fields.items() if k != b"delay"} for _id, fields in client.xrange(key)]
        else:
            out[suffix] = kind
    return out


def test_node_bullmq_worker_stops_while_paused_and_keys_match_its_own_pause(redis_server, tmp_path):
    version = json.loads(node(redis_server, "counts", "probe"))["version"]
    major = version.split(":")[1].split(".")[0]
    log = tmp_path / "worker.log"
    ids = json.loads(node(redis_server, "produce", "jobs", "5"))
    worker = subprocess.Popen(["node", str(HELPER), "worker", "jobs", str(log)], env=node_env(redis_server))
    try:
        args = redis_args(redis_server, queues=["jobs"])
        paused = run_module("queue_pause", dict(args, state="paused"))
        assert paused["changed"] is True and paused["queues"]["jobs"]["layout"] == major, paused
        paused_at = time.time()
        ids += json.loads(node(redis_server, "produce", "jobs", "10"))
        seen = json.loads(node(redis_server, "counts", "jobs"))
        ours = run_module("queue_pause", dict(args, state="paused"))["queues"]["jobs"]["counts"]
        assert seen["paused"] is True
        for name, value in seen["counts"].items():
            assert ours[name.replace("-", "_")] == value, (name, ours, seen)
        resume_at = time.time()
        assert run_module("queue_pause", dict(args, state="resumed"))["changed"] is True
        deadline = time.monotonic() + 60
        while len(log.read_text().splitlines()) < len(ids) and time.monotonic() < deadline:
            time.sleep(0.1)
        starts = [line.split() for line in log.read_text().splitlines()]
        assert [s for s in starts if paused_at <= float(s[2]) <= resume_at] == []
        assert sorted(s[1] for s in starts) == sorted(ids), "every job ran once"
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    client = redis_server.client()
    for name in ("ours", "theirs"):
        node(redis_server, "produce", name, "3")
    run_module("queue_pause", redis_args(redis_server, queues=["ours"], state="paused"))
    node(redis_server, "pause", "theirs")
    assert shape(client, "ours") == shape(client, "theirs")
    run_module("queue_pause", redis_args(redis_server, queues=["ours"], state="resumed"))
    node(redis_server, "resume", "theirs")
    assert shape(client, "ours") == shape(client, "theirs")
