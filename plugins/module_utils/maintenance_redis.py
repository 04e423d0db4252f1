# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis upkeep: a ping, and removal of stale session keys.

Keys are found with SCAN (never KEYS, which blocks the server on a large keyspace) and removed
with UNLINK in small pipelines; nothing here ever calls FLUSHDB or FLUSHALL.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

REDIS_IMPORT_ERROR = None
try:
    import redis
except ImportError:
    REDIS_IMPORT_ERROR = traceback.format_exc()
    redis = None


class RedisMaintenanceError(Exception):
    """A Redis step failed; the message says which and why (never with a password)."""


def connect(url=None, host="127.0.0.1", port=6379, db=0, password=None, tls=False, timeout=10):
    try:
        if url:
            client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        else:
            client = redis.Redis(host=host, port=port, db=db, password=password, ssl=tls,
                                 socket_timeout=timeout, socket_connect_timeout=timeout)
        client.ping()
    except redis.AuthenticationError:
        raise RedisMaintenanceError("Redis refused the password (or it needs one)")
    except redis.RedisError as exc:
        where = "the Redis URL" if url else "%s:%s" % (host, port)
        raise RedisMaintenanceError("cannot reach Redis at %s: %s" % (where, exc))
    return client


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
    except redis.RedisError as exc:
        raise RedisMaintenanceError("session cleanup stopped after %d deletions: %s" % (result["deleted"], exc))
    return result


def _unlink(client, keys, check_mode):
    if check_mode or not keys:
        return 0
    return int(client.unlink(*keys))
