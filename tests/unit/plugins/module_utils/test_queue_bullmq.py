"""BullMQ layout detection and count rules (the Lua transitions run against a real Redis in the
integration tests)."""

import pytest

from ansible_collections.medops.runbook.plugins.module_utils.queue_bullmq import (
    TRANSITION_LUA, BullMQError, BullMQQueues, layout_from_meta, waiting_count)


@pytest.mark.parametrize("field, layout", [
    ("bullmq:5.81.3", "5"), ("bullmq:6.2.0", "6"), ("bullmq:4.17.0", "4"), (None, None), ("", None),
    ("bullmq-pro:7.1.0", None), ("something", None),
])
def test_layout_from_meta(field, layout):
    assert layout_from_meta(field) == layout


def test_a_legacy_marker_at_the_tail_is_not_a_job():
    assert waiting_count(3, b"0:1700000000") == 2
    assert waiting_count(1, b"0:0") == 0
    assert waiting_count(3, b"17") == 3
    assert waiting_count(0, None) == 0


class Pipeline(object):
    def __init__(self, replies):
        self.replies = replies

    def __getattr__(self, name):
        return lambda *args, **kw: None

    def execute(self):
        return self.replies


class Client(object):
    def __init__(self, replies):
        self.replies = replies

    def register_script(self, source):
        assert "HSET" in source
        return lambda keys, args: [1, 0]

    def pipeline(self, transaction):
        assert transaction is True  # one MULTI: counts of one instant
        return Pipeline(self.replies)


def replies(version=None, wait_tail=b"5"):
    # exists, paused, version, wait len, wait tail, paused len, paused tail, active, delayed, prioritized, failed,
    # completed, waiting-children
    return [3, 1, version, 4, wait_tail, 0, None, 2, 1, 5, 6, 7, 0]


def test_status_reads_counts_like_get_job_counts():
    status = BullMQQueues(Client(replies(wait_tail=b"0:0"))).status("q")
    assert status == dict(exists=True, paused=True, bullmq_version=None, layout="6", counts=dict(
        waiting=3, paused=0, active=2, delayed=1, prioritized=5, failed=6, completed=7, waiting_children=0))


def test_layout_auto_follows_meta_and_explicit_choice_warns_on_mismatch():
    assert BullMQQueues(Client(replies(b"bullmq:5.70.0"))).status("q")["layout"] == "5"
    queues = BullMQQueues(Client(replies(b"bullmq:5.70.0")), layout="6")
    assert queues.status("q")["layout"] == "6" and "bullmq_version=6" in queues.warnings[0]
    with pytest.raises(BullMQError, match="BullMQ 4"):
        BullMQQueues(Client(replies(b"bullmq:4.1.0"))).status("q")


def test_would_change_counts_a_legacy_paused_list_as_work_for_resume():
    queues = BullMQQueues(Client(replies()))
    status = dict(paused=False, layout="6", counts=dict(paused=3))
    assert queues.would_change("q", status, False) is True
    assert queues.would_change("q", dict(status, layout="5"), False) is False
    assert queues.would_change("q", status, True) is True


def test_the_script_touches_only_the_keys_it_is_given():
    # Redis cluster and EVALSHA correctness: every key comes from KEYS, none is built in Lua
    assert "KEYS[8]" not in TRANSITION_LUA and ".." not in TRANSITION_LUA.replace("-- ", "")
