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

REDIS_IMPORT_ERROR = None
try:
    import redis
except ImportError:
    import traceback
    REDIS_IMPORT_ERROR = traceback.format_exc()
    redis = None

ENGINE = "redis"
SUFFIX = ".rdb"


class RedisEngine(object):
    def __init__(self, params):
        self.params = params
        self.timeout = params.get("redis_save_timeout") or 300

    def client(self):
        p = self.params
        try:
            if p.get("uri"):
                kwargs = {"socket_timeout": 30}
                if p.get("login_password"):
                    kwargs["password"] = p["login_password"]
                return redis.Redis.from_url(p["uri"], **kwargs)
            return redis.Redis(host=p.get("login_host") or "127.0.0.1", port=p.get("login_port") or 6379,
                               username=p.get("login_user") or None, password=p.get("login_password") or None,
                               socket_timeout=30)
        except ValueError as exc:
            raise bm.BackupError("uri is not a valid Redis URL: %s" % exc)

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

    def dump(self, final):
        client = self.client()
        started = bm.utcnow()
        server = self._call("INFO server", client.info, "server")
        keyspace = self._call("INFO keyspace", client.info, "keyspace")
        source = self.rdb_path(client)
        lastsave = self.snapshot(client)
        partial = bm.partial_path(final)
        try:
            src = open(source, "rb")
        except OSError as exc:
            raise bm.BackupError("cannot read the RDB file %s (the module must run on the Redis host, or set "
                                 "redis_rdb_path): %s" % (source, exc.strerror))
        try:
            with src, os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as out:
                writer = fileutils.HashingWriter(out)
                fileutils.copy_stream(src, writer)
                out.flush()
                os.fsync(out.fileno())
            fileutils.atomic_rename(partial, final)
        except BaseException:
            if os.path.lexists(partial):
                os.unlink(partial)
            raise
        finished = bm.utcnow()
        manifest = {
            "manifest_version": bm.MANIFEST_VERSION, "engine": ENGINE, "clinic": self.params.get("clinic"),
            "database": None, "server_version": server.get("redis_version"), "tool": {"redis": "BGSAVE"},
            "source": source, "lastsave": lastsave, "started_at": bm.iso(started), "finished_at": bm.iso(finished),
            "duration_seconds": round((finished - started).total_seconds(), 3), "file": os.path.basename(final),
            "bytes": writer.size, "sha256": writer.hexdigest(), "sha256_kind": "file",
            # Keys per database just before the save: writes between INFO and BGSAVE make this approximate.
            "keyspace_before_save": dict((db, info.get("keys")) for db, info in keyspace.items() if isinstance(info, dict)),
        }
        bm.write_manifest(final, manifest)
        return manifest

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
