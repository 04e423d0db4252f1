# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MongoDB backups through mongodump / mongorestore (``--archive --gzip``).

The password (and a URI, which may embed one) goes to the tools in a 0600 YAML file passed with
``--config`` from a private temporary directory, never on the command line. Document counts come
from mongodump's own report of what it wrote ("done dumping db.coll (N documents)"), so they are
the archive's counts, and a restore check compares mongorestore's report with them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import tempfile
import uuid

from ansible_collections.medops.runbook.plugins.module_utils import backup_manifest as bm
from ansible_collections.medops.runbook.plugins.module_utils.backup_engine import BackupEngine

ENGINE = "mongodb"
SUFFIX = ".archive.gz"
_DUMPED_RE = re.compile(r"done dumping (\S+?)\.(\S+) \((\d+) documents?\)")
_RESTORED_RE = re.compile(r"finished restoring (\S+?)\.(\S+) \((\d+) documents?, (\d+) failures?\)")


def parse_dumped(text):
    """{collection: documents} from mongodump's stderr."""
    return dict((m.group(2), int(m.group(3))) for m in _DUMPED_RE.finditer(text))


def parse_restored(text):
    """{collection: (documents, failures)} from mongorestore's stderr."""
    return dict((m.group(2), (int(m.group(3)), int(m.group(4)))) for m in _RESTORED_RE.finditer(text))


def config_text(password=None, uri=None):
    """YAML for --config; JSON strings are valid YAML scalars, so any byte is quoted safely."""
    lines = []
    if password:
        lines.append("password: %s" % json.dumps(password))
    if uri:
        lines.append("uri: %s" % json.dumps(uri))
    return "\n".join(lines) + "\n"


class MongodbEngine(BackupEngine):
    name = ENGINE
    SUFFIX = SUFFIX

    def __init__(self, params):
        super(MongodbEngine, self).__init__(params)
        self._tmpdir = None

    @classmethod
    def problems(cls, params):
        problems = super(MongodbEngine, cls).problems(params)
        if params.get("state") == "dumped" and not params.get("database"):
            problems.append("database is required with engine=mongodb and state=dumped")
        return problems

    def tool(self, name):
        bin_dir = self.params.get("bin_dir")
        path = os.path.join(bin_dir, name) if bin_dir else shutil.which(name)
        if not path or not os.access(path, os.X_OK):
            raise bm.BackupError("%s not found %s: install the MongoDB database tools or set bin_dir"
                                 % (name, "in bin_dir %s" % bin_dir if bin_dir else "on PATH"))
        return path

    def config_file(self):
        """A private 0600 --config file holding the secrets; removed by cleanup()."""
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="db_backup-mongo-")
        path = os.path.join(self._tmpdir, "tools.yaml")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(config_text(self.params.get("login_password"), self.params.get("uri")))
        return path

    def cleanup(self):
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def connection_args(self, config):
        p = self.params
        argv = ["--config=%s" % config]
        if not p.get("uri"):
            argv += ["--host=%s" % (p.get("login_host") or "127.0.0.1"), "--port=%d" % (p.get("login_port") or 27017)]
        if p.get("login_user"):
            argv += ["--username=%s" % p["login_user"], "--authenticationDatabase=%s" % (p.get("mongo_auth_database") or "admin")]
        return argv

    def dump_argv(self, config):
        if not self.database:
            raise bm.BackupError("database is required for engine=mongodb")
        return ([self.tool("mongodump")] + self.connection_args(config) + ["--db=%s" % self.database, "--archive", "--gzip"]
                + list(self.params.get("dump_extra_args") or []))

    def restore_argv(self, config, backup, target, drop=False, dry_run=False):
        source = self.database_of(backup)
        argv = [self.tool("mongorestore")] + self.connection_args(config)
        argv += ["--archive=%s" % backup, "--gzip", "--nsInclude=%s.*" % source]
        if target and target != self.database_of(backup):
            argv += ["--nsFrom=%s.*" % self.database_of(backup), "--nsTo=%s.*" % target]
        if drop:
            argv.append("--drop")
        if dry_run:
            argv.append("--dryRun")
        return argv + ["-v"]

    def database_of(self, backup):
        try:
            return bm.read_manifest(backup).get("database") or self.database
        except bm.BackupError:
            return self.database

    def plan_dump(self, final):
        return self.dump_argv("<0600 temp config with the password>") + ["(stdout ->", final + ")"]

    def write(self, partial):
        try:
            text = self._run_dump(self.dump_argv(self.config_file()), partial)
        finally:
            self.cleanup()
        counts = parse_dumped(text)
        return {"tool": {"mongodump": self._version("mongodump")}, "format": "archive+gzip",
                "tables": counts, "rows_total": sum(counts.values())}

    @classmethod
    def _run_dump(cls, argv, partial):
        """mongodump's archive straight into ``partial``; its report (stderr) names the counts."""
        with cls.create_partial(partial) as handle:
            rc, _out, err = bm.run_tool(argv, stdout=handle)
        if rc != 0:
            raise bm.BackupError("mongodump failed (exit %d): %s" % (rc, bm.tail(err)))
        return err

    def _version(self, name):
        rc, out, err = bm.run_tool([self.tool(name), "--version"], timeout=60)
        return (out or err).strip().splitlines()[0] if rc == 0 and (out or err).strip() else "unknown"

    def _restore(self, backup, target, drop, dry_run):
        try:
            return bm.run_tool(self.restore_argv(self.config_file(), backup, target, drop, dry_run), timeout=None)
        finally:
            self.cleanup()

    def verify(self, backup, manifest, restore_check):
        checks = [bm.checksum_check(backup, manifest)]
        rc, out, err = self._restore(backup, None, False, True)
        checks.append(bm.check("archive_readable", rc == 0, "mongorestore --dryRun %s" % (
            "read the archive" if rc == 0 else "failed: %s" % bm.tail(out + err, 8))))
        if restore_check:
            if not all(c["ok"] for c in checks):
                checks.append(bm.check("restore", False, "not attempted: the archive failed an earlier check"))
            else:
                checks.append(self.restore_check(backup, manifest))
        return checks

    def restore_check(self, backup, manifest):
        scratch = self.params.get("scratch_database") or "db_backup_verify_%s" % uuid.uuid4().hex[:12]
        try:
            rc, out, err = self._restore(backup, scratch, True, False)
            if rc != 0:
                return bm.check("restore", False, "mongorestore into %s failed: %s" % (scratch, bm.tail(out + err, 8)))
            restored = parse_restored(out + err)
            failures = sum(f for _n, f in restored.values())
            result = bm.count_check("restore", manifest.get("tables") or {}, dict((c, n) for c, (n, _f) in restored.items()))
            if failures:
                result.update(ok=False, detail="%d documents failed to restore; %s" % (failures, result["detail"]))
            result["scratch_database"] = scratch
            return result
        finally:
            self.drop_database(scratch)

    def drop_database(self, name):
        """Drop the scratch database with mongosh (the tools have no drop of their own)."""
        mongosh = shutil.which("mongosh")
        if not mongosh:
            raise bm.BackupError("the scratch database %s could not be dropped: mongosh is not installed" % name)
        config = self.config_file()
        try:
            argv = [mongosh, "--quiet", "--nodb", "--file", self._drop_script(name)]
            env = dict(os.environ, DB_BACKUP_MONGO_CONFIG=config)
            rc, out, err = bm.run_tool(argv, env=env, timeout=600)
        finally:
            self.cleanup()
        if rc != 0:
            raise bm.BackupError("dropping the scratch database %s failed: %s" % (name, bm.tail(out + err)))

    def _drop_script(self, name):
        # The script reads the connection (password included) from the 0600 config file.
        path = os.path.join(self._tmpdir, "drop.js")
        p = self.params
        target = {"uri": p.get("uri"), "host": p.get("login_host") or "127.0.0.1", "port": p.get("login_port") or 27017,
                  "user": p.get("login_user"), "authdb": p.get("mongo_auth_database") or "admin", "db": name}
        script = (
            "const fs = require('fs');\n"
            "const t = %s;\n"
            "const cfg = fs.readFileSync(process.env.DB_BACKUP_MONGO_CONFIG, 'utf8');\n"
            "const m = cfg.match(/^password: (.*)$/m);\n"
            "const pw = m ? JSON.parse(m[1]) : null;\n"
            "let url = t.uri || ('mongodb://' + t.host + ':' + t.port + '/');\n"
            "const c = t.user ? connect(url, {auth: {username: t.user, password: pw}, authSource: t.authdb})"
            " : connect(url);\n"
            "c.getSiblingDB(t.db).dropDatabase();\n" % json.dumps(target))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(script)
        return path

    def restore(self, backup, manifest, target):
        checks = [bm.checksum_check(backup, manifest)]
        if not checks[0]["ok"]:
            raise bm.BackupError("refusing to restore %s: checksum: %s" % (backup, checks[0]["detail"]))
        rc, out, err = self._restore(backup, target, True, False)
        if rc != 0:
            raise bm.BackupError("mongorestore into %s failed (exit %d): %s" % (target, rc, bm.tail(out + err, 10)))
        restored = parse_restored(out + err)
        checks.append(bm.count_check("row_counts", manifest.get("tables") or {}, dict((c, n) for c, (n, _f) in restored.items())))
        return {"created_database": None, "checks": checks}
