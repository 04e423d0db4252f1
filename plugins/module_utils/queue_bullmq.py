# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""BullMQ queues paused and resumed on Redis directly, the way BullMQ itself does it.

BullMQ keeps a queue under ``<prefix>:<name>:<suffix>`` keys. A queue is paused when its ``meta``
hash has a ``paused`` field: workers (moveToActive) then hand out no job, and producers add
without waking them (no marker). Workers block on the ``marker`` sorted set, so pausing deletes
it and resuming puts it back when a job is ready, else a delay marker for the next delayed job.

Two storage layouts exist:

* BullMQ 6 (npm 6.0.0 and later, Python bullmq 3.x): jobs of a paused queue stay in ``wait``;
  ``paused`` is a legacy list that resume folds back into ``wait`` in chunks.
* BullMQ 5 (npm 5.1.10 to 5.81.x): pausing renames ``wait`` to ``paused``,
  producers add to ``paused`` while the flag is set, and resuming renames it back.

Each transition is one Lua script (EVALSHA), so no worker or producer sees half of it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.medops.runbook.plugins.module_utils.redis_connect import redis
from ansible_collections.medops.runbook.plugins.module_utils.queue_common import QueueBackendError

LAYOUTS = ("5", "6")
# BullMQ moves at most 7000 ids per resume call; a smaller chunk keeps each call short.
RESUME_CHUNK = 5000
COUNT_NAMES = ("waiting", "paused", "active", "delayed", "prioritized", "failed", "completed", "waiting_children")
EXISTENCE_SUFFIXES = ("meta", "id", "wait", "paused", "active", "delayed", "prioritized", "completed",
                      "failed", "waiting-children", "events", "marker")

# KEYS: 1 meta, 2 wait, 3 paused, 4 prioritized, 5 events, 6 delayed, 7 marker
# ARGV: 1 "pause" | "resume", 2 layout "5" | "6", 3 chunk size
# Returns {changed (0/1), ids still in the legacy paused list}.
TRANSITION_LUA = r"""
local rcall = redis.call
local metaKey, waitKey, pausedKey, prioritizedKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local eventsKey, delayedKey, markerKey = KEYS[5], KEYS[6], KEYS[7]
local action, layout, chunk = ARGV[1], ARGV[2], tonumber(ARGV[3])

-- Append the oldest `limit` ids of src after dst's (the end workers take from next), keeping
-- their order; a plain RENAME when dst is absent. Returns how many ids src still holds.
local function appendIds(src, dst, limit)
  if rcall("EXISTS", src) == 0 then return 0 end
  if rcall("EXISTS", dst) == 0 then
    rcall("RENAME", src, dst)
    return 0
  end
  local ids = rcall("LRANGE", src, 0, limit - 1)
  rcall("RPUSH", dst, unpack(ids))
  rcall("LTRIM", src, #ids, -1)
  return rcall("LLEN", src)
end

local function appendAll(src, dst)
  while appendIds(src, dst, chunk) > 0 do end
end

local function wakeWorkers()
  if rcall("LLEN", waitKey) + rcall("ZCARD", prioritizedKey) > 0 then
    rcall("ZADD", markerKey, 0, "0")
    return
  end
  local first = rcall("ZRANGE", delayedKey, 0, 0, "WITHSCORES")
  local score = tonumber(first[2])
  if score ~= nil then
    -- delayed scores are timestamp * 0x1000 + sequence; the marker holds the timestamp
    rcall("ZADD", markerKey, score / 0x1000, "1")
  end
end

local wasPaused = rcall("HEXISTS", metaKey, "paused") == 1

if action == "pause" then
  if wasPaused then return {0, 0} end
  rcall("HSET", metaKey, "paused", 1)
  rcall("DEL", markerKey)
  if layout == "5" then appendAll(waitKey, pausedKey) end
  rcall("XADD", eventsKey, "*", "event", "paused")
  return {1, 0}
end

local legacy = layout == "6" and rcall("EXISTS", pausedKey) == 1
if not wasPaused and not legacy then return {0, 0} end
if wasPaused then rcall("HDEL", metaKey, "paused") end
local remaining = 0
if layout == "5" then
  appendAll(pausedKey, waitKey)
else
  remaining = appendIds(pausedKey, waitKey, chunk)
end
wakeWorkers()
if wasPaused then rcall("XADD", eventsKey, "*", "event", "resumed") end
return {1, remaining}
"""

_VERSION_RE = re.compile(r"^bullmq:(\d+)\.")


class BullMQError(QueueBackendError):
    """A queue operation failed; the message is meant for the user."""


def layout_from_meta(version_field):
    """BullMQ major version ("5"/"6") written in meta ``version`` by Node's Queue, else None."""
    if not version_field:
        return None
    match = _VERSION_RE.match(version_field)
    return match.group(1) if match else None


def waiting_count(length, tail):
    """Like BullMQ's getCounts for wait/paused: a legacy ``0:`` marker at the tail is no job."""
    if tail is not None and tail.startswith(b"0:"):
        return max(length - 1, 0)
    return length


class BullMQQueues(object):
    """Pause, resume and count the BullMQ queues under one prefix of one Redis."""

    def __init__(self, client, prefix="bull", layout="auto", resume_chunk=RESUME_CHUNK):
        self.client = client
        self.prefix = prefix
        self.layout = layout
        self.resume_chunk = resume_chunk
        self.warnings = []
        self._transition = client.register_script(TRANSITION_LUA)

    def key(self, queue, suffix):
        return "%s:%s:%s" % (self.prefix, queue, suffix)

    def status(self, queue):
        """exists, paused, layout and counts of one queue, read in one MULTI (nothing written)."""
        def k(suffix):
            return self.key(queue, suffix)

        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.exists(*[k(s) for s in EXISTENCE_SUFFIXES])
            pipe.hexists(k("meta"), "paused")
            pipe.hget(k("meta"), "version")
            pipe.llen(k("wait"))
            pipe.lindex(k("wait"), -1)
            pipe.llen(k("paused"))
            pipe.lindex(k("paused"), -1)
            pipe.llen(k("active"))
            for suffix in ("delayed", "prioritized", "failed", "completed", "waiting-children"):
                pipe.zcard(k(suffix))
            replies = pipe.execute()
        except redis.RedisError as exc:
            raise BullMQError("reading queue %r failed: %s" % (queue, exc))
        (exists, paused, version, wait_len, wait_tail, paused_len, paused_tail, active,
         delayed, prioritized, failed, completed, children) = replies
        counts = dict(
            waiting=waiting_count(wait_len, wait_tail), paused=waiting_count(paused_len, paused_tail),
            active=active, delayed=delayed, prioritized=prioritized, failed=failed, completed=completed,
            waiting_children=children)
        version = version.decode("utf-8", "replace") if version is not None else None
        return dict(exists=exists > 0, paused=bool(paused), bullmq_version=version,
                    layout=self._layout(queue, version), counts=counts)

    def _layout(self, queue, version):
        seen = layout_from_meta(version)
        if self.layout == "auto":
            if seen is not None and seen not in LAYOUTS:
                raise BullMQError("queue %r was last written by BullMQ %s (meta version %r); this module knows the "
                                  "layouts of BullMQ 5 and 6 only" % (queue, seen, version))
            return seen or "6"
        if seen is not None and seen != self.layout:
            self.warnings.append("queue %r: bullmq_version=%s but its meta says %r was the last writer; "
                                 "using layout %s as asked" % (queue, self.layout, version, self.layout))
        return self.layout

    def active(self, queue):
        try:
            return int(self.client.llen(self.key(queue, "active")))
        except redis.RedisError as exc:
            raise BullMQError("reading the active jobs of queue %r failed: %s" % (queue, exc))

    def describe_missing(self):
        return "no key %s:<queue>:* in this Redis database" % self.prefix

    def would_change(self, queue, status, want_paused):
        if want_paused:
            return not status["paused"]
        return status["paused"] or (status["layout"] == "6" and status["counts"]["paused"] > 0)

    def pause(self, queue, status):
        return self._run(queue, "pause", status["layout"])

    def resume(self, queue, status):
        return self._run(queue, "resume", status["layout"])

    def _run(self, queue, action, layout):
        keys = [self.key(queue, s) for s in ("meta", "wait", "paused", "prioritized", "events", "delayed", "marker")]
        changed = False
        try:
            while True:
                step_changed, remaining = self._transition(keys=keys, args=[action, layout, self.resume_chunk])
                changed = changed or bool(step_changed)
                # a BullMQ 6 resume folds a long legacy paused list back in chunks; the queue is
                # already resumed, the next calls only move the rest
                if not remaining:
                    return changed
        except redis.RedisError as exc:
            raise BullMQError("%s of queue %r failed: %s" % (action, queue, exc))
