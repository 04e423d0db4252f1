# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis backups: a fresh RDB snapshot (BGSAVE, then LASTSAVE must move) copied out atomically.

Redis writes a snapshot to a temporary file and renames it over ``dir/dbfilename``, so the file
opened after LASTSAVE moved is one complete snapshot even if another save replaces it meanwhile.
The module must run where that file is (the Redis host), or be told its path (redis_rdb_path).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import time

from ansible_collections.medops.runbook.plugins.module_utils import backup_manifest as bm
from ansible_collections.medops.runbook.plugins.module_utils import fileutils
from ansible_collections.medops.runbook.plugins.module_utils import redis_connect
from ansible_collections.medops.runbook.plugins.module_utils.backup_engine import BackupEngine
from ansible_collections.medops.runbook.plugins.module_utils.redis_connect import redis

ENGINE = "redis"
SUFFIX = ".rdb"


class RedisEngine(BackupEngine):
    name = ENGINE
    SUFFIX = SUFFIX
    library = ("redis", redis_connect.REDIS_IMPORT_ERROR)
    # One RDB holds every Redis database.
    per_database = False
    unused_options = ("login_host", "login_port", "login_user", "login_password")
    unused_hint = "its connection is the redis_* options (redis_url or redis_host, redis_port, redis_password, redis_tls)"

    def __init__(self, params):
        super(RedisEngine, self).__init__(params)
        self.timeout = params.get("redis_save_timeout") or 300

    @classmethod
    def problems(cls, params):
        problems = super(RedisEngine, cls).problems(params)
        if params.get("state") == "restored":
            problems.append("state=restored is not supported for engine=redis: loading an RDB needs a Redis restart")
        if params.get("uri"):
            problems.append("uri does not apply to engine=redis: give redis_url, or redis_host, redis_port and redis_password")
        if (params.get("redis_save_timeout") or 0) < 1:
            problems.append("redis_save_timeout must be 1 or more seconds")
        try:
            redis_connect.check_params(params)
        except redis_connect.RedisConnectError as exc:
            problems.append(str(exc))
        return problems

    def client(self):
        """A client from the redis_* options (TLS included), like every module that talks to Redis."""
        try:
            return redis_connect.connect(self.params)
        except redis_connect.RedisConnectError as exc:
            raise bm.BackupError(str(exc))

    def _call(self, what, func, *args):
        try:
            return func(*args)
        except redis.RedisError as exc:
            raise bm.BackupError("Redis %s failed: %s" % (what, exc))

    def rdb_path(self, client):
        if self.params.get("redis_rdb_path"):
            return self.params["redis_rdb_path"]
        directory = self._call("CONFIG GET dir", client.config_get, "dir").get("dir")
        name = self._call("CONFIG GET dbfilename", client.config_get, "dbfilename").get("dbfilename")
        if not directory or not name:
            raise bm.BackupError("CONFIG GET did not return dir/dbfilename (CONFIG renamed?): set redis_rdb_path")
        return os.path.join(directory, name)

    def plan_dump(self, final):
        source = self.params.get("redis_rdb_path") or "<CONFIG GET dir>/<CONFIG GET dbfilename>"
        return ["BGSAVE", "wait for LASTSAVE to change (timeout %ss)" % self.timeout, "copy %s -> %s" % (source, final)]

    def snapshot(self, client):
        """BGSAVE and wait until LASTSAVE moves past its value before the call; returns LASTSAVE."""
        deadline = time.monotonic() + self.timeout
        while self._persistence(client).get("rdb_bgsave_in_progress"):
            self._wait(deadline, "an earlier background save to finish")
        before = int(self._call("LASTSAVE", client.lastsave).timestamp())
        # LASTSAVE has one-second resolution: a save in the same second would look like no change.
        while int(time.time()) <= before:
            time.sleep(0.05)
        try:
            client.bgsave()
        except redis.ResponseError as exc:
            if "in progress" not in str(exc):
                raise bm.BackupError("Redis BGSAVE failed: %s" % exc)
        except redis.RedisError as exc:
            raise bm.BackupError("Redis BGSAVE failed: %s" % exc)
        while True:
            now = int(self._call("LASTSAVE", client.lastsave).timestamp())
            if now > before and not self._persistence(client).get("rdb_bgsave_in_progress"):
                break
            self._wait(deadline, "BGSAVE to finish (LASTSAVE still %d)" % before)
        status = self._persistence(client).get("rdb_last_bgsave_status")
        if status != "ok":
            raise bm.BackupError("Redis reports the background save failed (rdb_last_bgsave_status=%s)" % status)
        return now

    def _persistence(self, client):
        return self._call("INFO persistence", client.info, "persistence")

    def _wait(self, deadline, what):
        if time.monotonic() > deadline:
            raise bm.BackupError("timed out after %ss waiting for %s" % (self.timeout, what))
        time.sleep(0.1)

    def write(self, partial):
        client = self.client()
        server = self._call("INFO server", client.info, "server")
        keyspace = self._call("INFO keyspace", client.info, "keyspace")
        source = self.rdb_path(client)
        lastsave = self.snapshot(client)
        self._copy(source, partial)
        return {
            "server_version": server.get("redis_version"), "tool": {"redis": "BGSAVE"}, "source": source,
            "lastsave": lastsave,
            # Keys per database just before the save: writes between INFO and BGSAVE make this approximate.
            "keyspace_before_save": dict((db, info.get("keys")) for db, info in keyspace.items() if isinstance(info, dict)),
        }

    def _copy(self, source, partial):
        try:
            src = open(source, "rb")
        except OSError as exc:
            raise bm.BackupError("cannot read the RDB file %s (the module must run on the Redis host, or set "
                                 "redis_rdb_path): %s" % (source, exc.strerror))
        with src, self.create_partial(partial) as out:
            fileutils.copy_stream(src, out)

    def verify(self, backup, manifest, restore_check):
        checks = [bm.checksum_check(backup, manifest)]
        try:
            with open(backup, "rb") as handle:
                magic = handle.read(9)
        except OSError as exc:
            magic = b""
            checks.append(bm.check("rdb_header", False, "cannot read: %s" % exc.strerror))
        else:
            ok = magic.startswith(b"REDIS") and magic[5:9].isdigit()
            checks.append(bm.check("rdb_header", ok, "RDB version %s" % magic[5:9].decode("ascii", "replace") if ok
                                   else "no REDIS magic at the start of the file"))
        tool = self.params.get("redis_check_rdb") or shutil.which("redis-check-rdb")
        if tool:
            rc, out, err = bm.run_tool([tool, backup], timeout=3600)
            ok = rc == 0 and "RDB looks OK" in out + err
            checks.append(bm.check("redis_check_rdb", ok, "redis-check-rdb: %s" % bm.tail(out + err, 3 if ok else 8)))
        else:
            checks.append(bm.check("redis_check_rdb", True, "skipped: redis-check-rdb is not installed"))
            checks[-1]["skipped"] = True
        if restore_check:
            checks.append(bm.check("restore", False, "restore_check is not available for engine=redis: loading an RDB "
                                   "needs a Redis server restart"))
        return checks

    def restore(self, backup, manifest, target):
        raise bm.BackupError("state=restored is not supported for engine=redis: stop Redis, copy %s to its "
                             "dir/dbfilename and start it again" % backup)
