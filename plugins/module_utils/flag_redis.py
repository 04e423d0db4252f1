# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Feature flags in a Redis hash per application (``key``, e.g. ``flags:claims``).

Field ``<name>`` holds ``true``/``false`` and field ``<name>:rollout`` the percentage, so a
service reads all of its flags with one HGETALL and sees a change without a restart.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.medops.runbook.plugins.module_utils.flag_common import (
    FlagError, clears_rollout, flag_state, parse_bool, parse_rollout)
from ansible_collections.medops.runbook.plugins.module_utils.redis_connect import (
    RedisConnectError, connect, redis)


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class RedisFlags(object):
    """One flag (``name``) in the hash ``key``."""

    def __init__(self, params, key, name):
        self.params = params
        self.key = key
        self.name = name
        self.rollout_field = "%s:rollout" % name
        self.client = None
        self.writes = []
        self.warnings = []

    def _call(self, what, func, *args):
        try:
            return func(*args)
        except redis.ResponseError as exc:
            if "WRONGTYPE" in str(exc):
                raise FlagError("Redis key %s is not a hash of flags (it holds another type)" % self.key)
            raise FlagError("Redis refused %s on %s: %s" % (what, self.key, exc))
        except redis.RedisError as exc:
            raise FlagError("Redis failed during %s on %s: %s" % (what, self.key, exc))

    def read(self):
        try:
            self.client = connect(self.params)
        except RedisConnectError as exc:
            raise FlagError(str(exc))
        value, rollout = self._call("HMGET", self.client.hmget, self.key, [self.name, self.rollout_field])
        value, rollout = _text(value), _text(rollout)
        where = "field %s of %s" % (self.rollout_field, self.key)
        rollout = parse_rollout(rollout, where) if rollout is not None else None
        if value is None:
            return flag_state(False, False, rollout)
        enabled = parse_bool(value)
        if enabled is None:
            self.warnings.append("field %s of %s holds %r, which is not a boolean; it counts as disabled" % (self.name, self.key, value[:40]))
        return flag_state(True, bool(enabled), rollout)

    def plan(self, before, after, rollout_absent=False):
        """The HSET/HDEL that turn ``before`` into ``after``; ``rollout_absent`` deletes the rollout field."""
        if not after["exists"]:
            fields = [self.name] if before["exists"] else []
            if before["rollout"] is not None:
                fields.append(self.rollout_field)
            if fields:
                self.writes.append(("HDEL", fields))
        else:
            mapping = {}
            if not before["exists"] or before["enabled"] != after["enabled"]:
                mapping[self.name] = "true" if after["enabled"] else "false"
            if after["rollout"] is not None and after["rollout"] != before["rollout"]:
                mapping[self.rollout_field] = str(after["rollout"])
            if mapping:
                self.writes.append(("HSET", mapping))
            if after["rollout"] is None and clears_rollout(before, rollout_absent):
                self.writes.append(("HDEL", [self.rollout_field]))
        return bool(self.writes)

    def apply(self):
        # One MULTI/EXEC: a reader never sees the new flag with the old rollout.
        pipe = self.client.pipeline(transaction=True)
        for command, arg in self.writes:
            if command == "HDEL":
                pipe.hdel(self.key, *arg)
            else:
                pipe.hset(self.key, mapping=arg)
        self._call("MULTI/EXEC", pipe.execute)

    def diff(self):
        return None
