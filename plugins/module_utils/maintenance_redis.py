# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis upkeep: a ping, and removal of stale session keys.

Keys are found with SCAN (never KEYS, which blocks the server on a large keyspace) and removed
with UNLINK in small pipelines; nothing here ever calls FLUSHDB or FLUSHALL.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from redis import RedisError
except ImportError:  # the module reports the missing library through redis_connect
    RedisError = Exception


class RedisMaintenanceError(Exception):
    """A Redis step failed; the message says which and why (never with a password)."""


def clean_sessions(client, pattern, idle_seconds, scan_count=500, check_mode=False):
    """Remove keys matching ``pattern`` that nobody touched for ``idle_seconds`` seconds."""
    if not pattern or pattern in ("*", "**"):
        raise RedisMaintenanceError("session_pattern %r would match every key; give a prefix such as 'sess:*'" % pattern)
    result = dict(pattern=pattern, idle_seconds=idle_seconds, scanned=0, stale=0, deleted=0)
    batch = []
    try:
        for key in client.scan_iter(match=pattern, count=scan_count):
            result["scanned"] += 1
            idle = client.object("idletime", key)
            if idle is None or idle < idle_seconds:
                continue
            result["stale"] += 1
            batch.append(key)
            if len(batch) >= scan_count:
                result["deleted"] += _unlink(client, batch, check_mode)
                batch = []
        result["deleted"] += _unlink(client, batch, check_mode)
    except RedisError as exc:
        raise RedisMaintenanceError("session cleanup stopped after %d deletions: %s" % (result["deleted"], exc))
    return result


def _unlink(client, keys, check_mode):
    if check_mode or not keys:
        return 0
    return int(client.unlink(*keys))
