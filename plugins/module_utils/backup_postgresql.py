# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL backups with pg_dump / pg_restore whose row counts are provably those of the dump.

The dump runs inside a snapshot that this module exports from a REPEATABLE READ transaction
(``pg_export_snapshot()`` handed to ``pg_dump --snapshot``); the tables are counted in that same
transaction while pg_dump runs, and the transaction stays open until pg_dump finishes. So the
manifest's counts are exactly the rows in the archive, even while the application keeps writing.

Connection settings reach the tools as a libpq conninfo string without the password; the password
travels only in the child's environment (PGPASSWORD). Every tool runs from an argv list, never a
shell, so a database name is data, never code.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
import shutil
import subprocess
import threading
import time
import uuid

from ansible_collections.medops.runbook.plugins.module_utils import backup_manifest as bm
from ansible_collections.medops.runbook.plugins.module_utils import db_roles
from ansible_collections.medops.runbook.plugins.module_utils import kept_database as kept
from ansible_collections.medops.runbook.plugins.module_utils import postgresql_driver as driver
from ansible_collections.medops.runbook.plugins.module_utils.postgresql_driver import psycopg2, sql
from ansible_collections.medops.runbook.plugins.module_utils.backup_engine import BackupEngine

ENGINE = "postgresql"
SUFFIX = {"custom": ".dump", "directory": ".dir"}
LEVELS = {"gzip": (1, 9), "lz4": (1, 12), "zstd": (1, 22)}
# libpq keywords a URI may carry, and the environment variable each maps to (for the tools).
CONNINFO_KEYS = ("host", "hostaddr", "port", "user", "dbname", "sslmode", "sslcert", "sslkey", "sslrootcert",
                 "sslcrl", "connect_timeout", "application_name", "options", "target_session_attrs",
                 "passfile", "sslpassword", "gssencmode", "krbsrvname", "service", "channel_binding")
SECRET_KEYS = ("password", "sslpassword")
# Hosts that are this machine: only then can the server's disk be measured here (statvfs).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
TABLES_SQL = """
SELECT n.nspname, c.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%%'
   AND n.nspname NOT LIKE 'pg_temp_%%'
 ORDER BY 1, 2
"""


def table_key(schema, table):
    return "%s.%s" % (schema, table)


# -- tools ---------------------------------------------------------------------------------------
def find_tool(name, bin_dir=None):
    """``bin_dir/name``, else the newest /usr/lib/postgresql/*/bin/name, else ``name`` on PATH.

    The newest client first: a newer pg_dump dumps older servers, never the reverse; and it skips
    Debian's pg_wrapper indirection (a Perl start-up per call)."""
    if bin_dir:
        path = os.path.join(bin_dir, name)
        if not os.access(path, os.X_OK):
            raise bm.BackupError("%s not found in bin_dir %s" % (name, bin_dir))
        return path
    candidates = glob.glob("/usr/lib/postgresql/*/bin/%s" % name)
    candidates.sort(key=lambda p: [int(x) for x in re.findall(r"\d+", p.split("/")[4])] or [0])
    if candidates:
        return candidates[-1]
    found = shutil.which(name)
    if found:
        return found
    raise bm.BackupError("%s not found in /usr/lib/postgresql/*/bin nor on PATH: install the PostgreSQL client "
                         "tools or set bin_dir" % name)


def parse_version(text):
    """'pg_dump (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)' -> (15, 8)."""
    match = re.search(r"\)\s*(\d+)(?:\.(\d+))?", text) or re.search(r"(\d+)(?:\.(\d+))?", text)
    if not match:
        raise bm.BackupError("cannot read a version from %r" % text.strip()[:200])
    return int(match.group(1)), int(match.group(2) or 0)


def tool_version(path):
    rc, out, err = bm.run_tool([path, "--version"], timeout=60)
    if rc != 0:
        raise bm.BackupError("%s --version failed: %s" % (path, bm.tail(err or out)))
    return parse_version(out), out.strip()


def compression_args(version, compression, level):
    """pg_dump arguments for a compression method and level, for the pg_dump ``version`` at hand."""
    major = version[0]
    if compression in LEVELS and level is not None:
        low, high = LEVELS[compression]
        if not low <= level <= high:
            raise bm.BackupError("compression_level %s is out of range for %s (%d-%d)" % (level, compression, low, high))
    if compression == "none":
        return ["--compress=0"] if major < 16 else ["--compress=none"]
    if major < 16:
        if compression != "gzip":
            raise bm.BackupError("compression=%s needs pg_dump 16 or newer; this pg_dump is %d.%d (it supports "
                                 "gzip and none only): use compression=gzip or set bin_dir to a newer client"
                                 % (compression, version[0], version[1]))
        return ["--compress=%d" % level] if level is not None else []
    return ["--compress=%s:%d" % (compression, level)] if level is not None else ["--compress=%s" % compression]


# -- connection ----------------------------------------------------------------------------------
def connection_settings(params):
    """(libpq keywords without secrets, password) from ``uri`` and/or login_* options.

    Explicit login_* options and ``database`` win over what the URI says."""
    keywords, password = {}, None
    if params.get("uri"):
        try:
            parsed = psycopg2.extensions.parse_dsn(params["uri"])
        except psycopg2.ProgrammingError as exc:
            raise bm.BackupError("uri is not a valid PostgreSQL connection URI: %s" % str(exc).strip().splitlines()[0])
        password = parsed.pop("password", None)
        parsed.pop("sslpassword", None)
        unknown = sorted(set(parsed) - set(CONNINFO_KEYS))
        if unknown:
            raise bm.BackupError("uri has parameters this module does not pass on: %s" % ", ".join(unknown))
        keywords.update(parsed)
    for option, key in (("login_host", "host"), ("login_port", "port"), ("login_user", "user"), ("database", "dbname")):
        if params.get(option) not in (None, ""):
            keywords[key] = str(params[option])
    if params.get("login_password"):
        password = params["login_password"]
    return keywords, password


def conninfo(keywords):
    """A libpq conninfo string; every value quoted so no value can inject another keyword."""
    def quote(value):
        return "'%s'" % str(value).replace("\\", "\\\\").replace("'", "\\'")
    return " ".join("%s=%s" % (key, quote(value)) for key, value in sorted(keywords.items()))


class PostgresqlEngine(BackupEngine):
    """One database on one server, and the client tools that talk to it."""

    name = ENGINE
    library = ("psycopg2", driver.PSYCOPG2_IMPORT_ERROR)

    def __init__(self, params):
        super(PostgresqlEngine, self).__init__(params)
        self.keywords, self._password = connection_settings(params)
        self.bin_dir = params.get("bin_dir")
        self.jobs = params.get("jobs") or 1
        self.timeout = params.get("connect_timeout") or 10

    @classmethod
    def problems(cls, params):
        state = params.get("state")
        if state in ("dumped", "restored") and not (params.get("database") or params.get("uri") or params.get("target_database")):
            return ["database (or uri) is required with engine=postgresql and state=%s" % state]
        return []

    @classmethod
    def suffix(cls, params):
        return SUFFIX[params.get("format") or "custom"]

    # -- plumbing --------------------------------------------------------------------------
    @property
    def database(self):
        return self.keywords.get("dbname")

    def tool(self, name):
        return find_tool(name, self.bin_dir)

    def env(self):
        """The child's environment: the password only here (never argv), no prompt ever."""
        env = dict(os.environ)
        for key in ("PGPASSWORD", "PGSERVICEFILE") if self._password else ():
            env.pop(key, None)
        if self._password:
            env["PGPASSWORD"] = self._password
        env.setdefault("PGCONNECT_TIMEOUT", str(self.timeout))
        env["PGAPPNAME"] = "medops.db_backup"
        return env

    def dsn_for(self, dbname):
        keywords = dict(self.keywords)
        keywords["dbname"] = dbname
        return conninfo(keywords)

    def connect(self, dbname):
        keywords = dict(self.keywords)
        keywords["dbname"] = dbname
        keywords.setdefault("connect_timeout", str(self.timeout))
        return driver.connect(keywords, self._password, bm.BackupError)

    def _scrub(self, text):
        return driver.scrub(text, self._password)

    def maintenance_db(self):
        return self.params.get("maintenance_database") or "postgres"

    def server_version(self, conn):
        with conn.cursor() as cur:
            cur.execute("SHOW server_version_num")
            num = int(cur.fetchone()[0])
        return num // 10000, num % 10000

    def run(self, argv, timeout=None):
        rc, out, err = bm.run_tool(argv, env=self.env(), timeout=timeout)
        return rc, out, self._scrub(err)

    # -- archive inspection ----------------------------------------------------------------
    def list_archive(self, path):
        """pg_restore --list: (rc, toc text, stderr)."""
        return self.run([self.tool("pg_restore"), "--list", path])

    @staticmethod
    def data_entries(toc, tables):
        """Which of ``tables`` ({key: [schema, name]}) have a TABLE DATA entry in the archive."""
        lines = [line for line in toc.splitlines() if not line.startswith(";") and " TABLE DATA " in line]
        present = set()
        for key, (schema, name) in tables.items():
            marker = " TABLE DATA %s %s " % (schema, name)
            if any(marker in line + " " for line in lines):
                present.add(key)
        return present

    def count_rows(self, conn, tables):
        counts = {}
        with conn.cursor() as cur:
            for key, (schema, name) in sorted(tables.items()):
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name)))
                counts[key] = cur.fetchone()[0]
        return counts

    @staticmethod
    def list_tables(conn):
        with conn.cursor() as cur:
            cur.execute(TABLES_SQL)
            return dict((table_key(s, t), [s, t]) for s, t in cur.fetchall())

    # -- dumped ----------------------------------------------------------------------------
    def dump_argv(self, target, version, snapshot=None):
        fmt = self.params.get("format") or "custom"
        argv = [self.tool("pg_dump"), "--dbname", self.dsn_for(self.database), "--format", fmt, "--no-password"]
        argv += compression_args(version, self.params.get("compression") or "gzip", self.params.get("compression_level"))
        if snapshot:
            argv += ["--snapshot", snapshot]
        # Always to a file: a custom archive written to a pipe has no data offsets in its TOC, and
        # pg_restore --jobs cannot restore it in parallel.
        if fmt == "directory":
            argv += ["--jobs", str(self.jobs)]
        argv += ["--file", target]
        argv += list(self.params.get("dump_extra_args") or [])
        return argv

    def validate_dump(self):
        fmt = self.params.get("format") or "custom"
        if not self.database:
            raise bm.BackupError("database is required for engine=postgresql (or a uri that names one)")
        if fmt == "custom" and self.jobs > 1:
            raise bm.BackupError("jobs=%d needs format=directory: pg_dump writes the custom format with one job "
                                 "(jobs still speeds up pg_restore of a directory backup)" % self.jobs)
        for arg in self.params.get("dump_extra_args") or []:
            bare = arg.split("=", 1)[0]
            if bare in ("-f", "--file", "-F", "--format", "-d", "--dbname", "--snapshot", "-j", "--jobs", "-W",
                        "--password") or re.match(r"^-[fFdjW].", arg):
                raise bm.BackupError("dump_extra_args must not set %s: the module sets it (use the module's options)" % bare)

    def plan_dump(self, final):
        """For check mode: the pg_dump command (no secrets) that a real run would use."""
        self.validate_dump()
        version, _text = tool_version(self.tool("pg_dump"))
        return redact(self.dump_argv(final, version, snapshot="<exported snapshot>"))

    def write(self, partial):
        """pg_dump into ``partial`` inside an exported snapshot whose tables are counted meanwhile."""
        self.validate_dump()
        version, version_text = tool_version(self.tool("pg_dump"))
        conn = self.connect(self.database)
        try:
            server, snapshot, database_bytes = self._export_snapshot(conn, version)
            tables = self.list_tables(conn)
            counts = self._run_dump(self.dump_argv(partial, version, snapshot), conn, tables)
        finally:
            conn.close()  # ends the snapshot transaction, only now that pg_dump is done
        tables = self._archived_tables(partial, tables)
        return {
            "host": self.keywords.get("host"), "port": self.keywords.get("port"),
            "server_version": "%d.%d" % server, "tool": {"pg_dump": version_text},
            "format": self.params.get("format") or "custom", "compression": self.params.get("compression") or "gzip",
            "compression_level": self.params.get("compression_level"), "jobs": self.jobs,
            "dump_extra_args": list(self.params.get("dump_extra_args") or []),
            "tables": dict((k, counts[k]) for k in tables), "table_names": tables,
            "rows_total": sum(counts[k] for k in tables), "database_bytes": database_bytes,
        }

    def _export_snapshot(self, conn, version):
        """(server version, exported snapshot, database bytes) from a REPEATABLE READ transaction
        that stays open, so pg_dump and the counts see the same rows."""
        server = self.server_version(conn)
        conn.rollback()  # set_session below needs no transaction open
        if version[0] < server[0]:
            raise bm.BackupError("pg_dump %d.%d cannot dump a PostgreSQL %d server: set bin_dir to the client tools "
                                 "of version %d or newer" % (version[0], version[1], server[0], server[0]))
        conn.set_session(isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ, readonly=True)
        with conn.cursor() as cur:
            cur.execute("SELECT pg_export_snapshot()")
            snapshot = cur.fetchone()[0]
            # What a restore of this backup will need on disk, roughly (restore's free-space check).
            cur.execute("SELECT pg_database_size(current_database())")
            return server, snapshot, cur.fetchone()[0]

    def _archived_tables(self, partial, tables):
        """The counted tables whose data the new archive holds; an unreadable archive fails the dump."""
        rc, toc, err = self.list_archive(partial)
        if rc != 0:
            raise bm.BackupError("the new archive is not readable by pg_restore --list: %s" % bm.tail(err))
        present = self.data_entries(toc, tables)
        return dict((k, v) for k, v in tables.items() if k in present)

    def _run_dump(self, argv, conn, tables):
        """Run pg_dump while counting every table in the exporting transaction (a thread)."""
        counted, failure = {}, []

        def count():
            try:
                counted.update(self.count_rows(conn, tables))
            except Exception as exc:  # pylint: disable=broad-except
                failure.append(exc)

        # umask: pg_dump creates the archive itself; nobody else may read it even for a moment.
        old_umask = os.umask(0o077)
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    env=self.env(), preexec_fn=bm.set_parent_death_signal)
        except OSError as exc:
            raise bm.BackupError("cannot run pg_dump: %s" % exc)
        finally:
            os.umask(old_umask)
        counter = threading.Thread(target=count, name="db_backup-count")
        counter.start()
        try:
            _out, err = proc.communicate()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            counter.join()
        if proc.returncode != 0:
            raise bm.BackupError("pg_dump failed (exit %d): %s" % (proc.returncode, bm.tail(self._scrub(err.decode("utf-8", "replace")))))
        if failure:
            raise bm.BackupError("counting rows in the dump's snapshot failed: %s" % self._scrub(str(failure[0]).strip()))
        return counted

    # -- verified --------------------------------------------------------------------------
    def readable_check(self, backup, manifest):
        rc, toc, err = self.list_archive(backup)
        if rc != 0:
            return bm.check("archive_readable", False, "pg_restore --list failed: %s" % bm.tail(err, 5)), None
        entries = len([line for line in toc.splitlines() if line and not line.startswith(";")])
        expected = manifest.get("table_names") or {}
        missing = sorted(set(expected) - self.data_entries(toc, expected))
        if missing:
            return bm.check("archive_readable", False, "readable, but the table data of %s is missing from the archive"
                            % ", ".join(missing[:10])), toc
        return bm.check("archive_readable", True, "pg_restore --list reads %d entries, data of all %d tables present"
                        % (entries, len(expected))), toc

    def restore_argv(self, backup, dbname, clean, single_transaction, no_owner):
        argv = [self.tool("pg_restore"), "--dbname", self.dsn_for(dbname), "--exit-on-error", "--no-password"]
        if clean:
            argv += ["--clean", "--if-exists"]
        if single_transaction:
            argv.append("--single-transaction")
        elif self.jobs > 1:
            argv += ["--jobs", str(self.jobs)]
        if no_owner:
            argv += ["--no-owner", "--no-privileges"]
        return argv + [backup]

    def scratch_name(self):
        return self.params.get("scratch_database") or "db_backup_verify_%s" % uuid.uuid4().hex[:12]

    def restore_check(self, backup, manifest):
        """Restore into a scratch database, compare its row counts with the manifest, drop it."""
        scratch = self.scratch_name()
        admin = self.connect(self.maintenance_db())
        admin.autocommit = True
        created = False
        try:
            with admin.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (scratch,))
                if cur.fetchone():
                    raise bm.BackupError("scratch database %r already exists; refusing to use (and drop) it" % scratch)
                try:
                    cur.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(scratch)))
                except psycopg2.Error as exc:
                    raise bm.BackupError("cannot create the scratch database %r: %s" % (scratch, str(exc).strip()))
                created = True
            rc, _out, err = self.run(self.restore_argv(backup, scratch, False, False, True))
            if rc != 0:
                return bm.check("restore", False, "pg_restore into scratch database %r failed: %s" % (scratch, bm.tail(err, 8)))
            conn = self.connect(scratch)
            try:
                actual = self.count_rows(conn, manifest.get("table_names") or {})
            finally:
                conn.close()
            result = bm.count_check("restore", manifest.get("tables") or {}, actual)
            result["scratch_database"] = scratch
            return result
        finally:
            if created:
                self._drop(admin, scratch)
            admin.close()

    @staticmethod
    def _drop(admin, name):
        with admin.cursor() as cur:
            cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def verify(self, backup, manifest, restore_check):
        checks = [bm.checksum_check(backup, manifest)]
        readable, _toc = self.readable_check(backup, manifest)
        checks.append(readable)
        if restore_check:
            if all(c["ok"] for c in checks):
                checks.append(self.restore_check(backup, manifest))
            else:
                checks.append(bm.check("restore", False, "not attempted: the archive failed an earlier check"))
        return checks

    # -- restored --------------------------------------------------------------------------
    def database_exists(self, name):
        admin = self.connect(self.maintenance_db())
        try:
            with admin.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                return cur.fetchone() is not None
        finally:
            admin.close()

    def restore(self, backup, manifest, target):
        checks = [bm.checksum_check(backup, manifest)]
        checks.append(self.readable_check(backup, manifest)[0])
        failed = [c for c in checks if not c["ok"]]
        if failed:
            raise bm.BackupError("refusing to restore %s: %s" % (backup, "; ".join("%s: %s" % (c["name"], c["detail"]) for c in failed)))
        exists = self.database_exists(target)
        if exists and self.params.get("restore_mode") == "replace":
            return self._restore_replacing(backup, manifest, target, checks)
        if not exists:
            self._admin_execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(target)),
                                "cannot create database %r" % target)
        argv = self.restore_argv(backup, target, exists, exists and self.jobs == 1, bool(self.params.get("no_owner")))
        started = time.monotonic()
        rc, _out, err = self.run(argv)
        if rc != 0 and not exists:
            # Leave no half-restored database behind that looks like a good one.
            self._admin_execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target)),
                                "cannot drop the half-restored database %r" % target)
        if rc != 0:
            raise bm.BackupError("pg_restore into %r failed (exit %d)%s: %s" % (
                target, rc, "; the database is unchanged (single transaction)" if exists and self.jobs == 1 else "",
                bm.tail(err, 10)))
        counted = self._count_check(target, manifest)
        return {"created_database": not exists, "restore_seconds": round(time.monotonic() - started, 3),
                "checks": checks + [counted], "command": redact(argv)}

    def _admin_execute(self, statement, failure, params=()):
        admin = self.connect(self.maintenance_db())
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                cur.execute(statement, params)
                return cur.fetchall() if cur.description else None
        except psycopg2.Error as exc:
            raise bm.BackupError("%s: %s" % (failure, str(exc).strip()))
        finally:
            admin.close()

    def _count_check(self, dbname, manifest):
        conn = self.connect(dbname)
        try:
            actual = self.count_rows(conn, manifest.get("table_names") or {})
        finally:
            conn.close()
        return bm.count_check("row_counts", manifest.get("tables") or {}, actual)

    # -- free space for a second copy -------------------------------------------------------
    def _pg_default_path(self):
        """Where the staging copy goes (template0's tablespace, pg_default: <data_directory>/base).

        Reading data_directory needs a superuser or pg_read_all_settings."""
        rows = self._admin_execute("SELECT current_setting('data_directory')",
                                   "cannot read data_directory (the login role needs superuser or pg_read_all_settings)")
        return os.path.join(rows[0][0], "base")

    def _server_is_local(self):
        host = self.keywords.get("host") or ""
        return host == "" or host.startswith("/") or host in LOCAL_HOSTS

    def free_space(self):
        """(free bytes or None, how it was measured or why it could not be)."""
        given = self.params.get("restore_free_bytes")
        if given is not None:
            return given, "restore_free_bytes (measured by the caller)"
        if not self._server_is_local():
            return None, ("the server %s is not on this host, so its disk cannot be measured from here (run the "
                          "module on the database host, or pass restore_free_bytes)" % driver.where(self.keywords))
        try:
            path = self._pg_default_path()
        except bm.BackupError as exc:
            return None, str(exc)
        try:
            stat = os.statvfs(path)
        except OSError as exc:
            return None, "cannot measure %s on this host (%s): is the server really local?" % (path, exc.strerror)
        return stat.f_bavail * stat.f_frsize, "statvfs of %s" % path

    def check_free_space(self, manifest, target):
        """Refuse (BackupError) when the server's disk cannot hold the restored copy beside the kept one.

        The copy's size is the database's size when it was backed up (the manifest's database_bytes),
        else the target's size now; either is an estimate (a fresh copy has no bloat, but the restore
        also writes WAL). restore_min_free_bytes must stay free after the copy."""
        mode = self.params.get("free_space_check") or "auto"
        if mode == "off":
            return {"checked": False, "reason": "free_space_check=off"}
        copy_bytes = manifest.get("database_bytes")
        estimate = "the database's size at the backup"
        if copy_bytes is None:
            copy_bytes = self._admin_execute("SELECT pg_database_size(%s)", "cannot read the size of %r" % target, (target,))[0][0]
            estimate = "the size of %r now (the manifest has no size)" % target
        needed = kept.required_bytes(copy_bytes, self.params.get("restore_min_free_bytes") or 0)
        free, how = self.free_space()
        report = {"copy_bytes": copy_bytes, "copy_estimate": estimate, "needed_bytes": needed, "free_bytes": free,
                  "measured_by": how, "checked": free is not None}
        if free is None:
            if mode == "required":
                raise bm.BackupError("refusing to restore into %r: the free space of the database server cannot be "
                                     "measured (%s); nothing was changed (free_space_check=auto or off skips this)"
                                     % (target, how))
            return report
        if free < needed:
            raise bm.BackupError(
                "refusing to restore into %r: the database server has %s free (%s) but the restore needs %s: "
                "%s for the restored copy (%s), which sits beside the kept copy of %r, plus restore_min_free_bytes "
                "%s. Nothing was changed. Free some space (old kept databases: db_maintenance "
                "drop_kept_older_than_days) or lower restore_min_free_bytes."
                % (target, kept.human_bytes(free), how, kept.human_bytes(needed), kept.human_bytes(copy_bytes),
                   estimate, target, kept.human_bytes(self.params.get("restore_min_free_bytes") or 0)))
        return report

    # -- replace: restore beside, swap, keep the replaced one ------------------------------
    def _restore_replacing(self, backup, manifest, target, checks):
        """Restore into a staging database, prove it, swap it in under the target's name, and keep the
        replaced database under a name that says what it is (never dropped: it holds every row
        written after the backup)."""
        free_space = self.check_free_space(manifest, target)
        suffix = uuid.uuid4().hex[:8]
        staging = "%s_restore_%s" % (target[:40], suffix)
        owner = self._admin_execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", "cannot read the owner of %r" % target,
            (target,))[0][0]
        self._admin_execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0 OWNER {}").format(
            sql.Identifier(staging), sql.Identifier(owner)), "cannot create the staging database %r" % staging)
        started = time.monotonic()
        drop_staging = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(staging))
        try:
            self._copy_database_acl(target, staging, owner)
            argv = self.restore_argv(backup, staging, False, False, bool(self.params.get("no_owner")))
            rc, _out, err = self.run(argv)
            if rc != 0:
                raise bm.BackupError("pg_restore into the staging database %r failed (exit %d); %r is unchanged: %s"
                                     % (staging, rc, target, bm.tail(err, 10)))
            counted = self._count_check(staging, manifest)
            if not counted["ok"]:
                raise bm.BackupError("the restored copy does not match the manifest, %r is unchanged: %s" % (target, counted["detail"]))
            taken = set(row[0] for row in self._admin_execute("SELECT datname FROM pg_database", "cannot list databases"))
            kept_name = kept.kept_name(target, bm.utcnow(), taken)
        except Exception:
            self._admin_execute(drop_staging, "cannot drop the staging database %r" % staging)
            raise
        # The swap: no new sessions on the target, close the open ones, set it aside, rename the copy.
        target_id, staging_id, kept_id = sql.Identifier(target), sql.Identifier(staging), sql.Identifier(kept_name)
        self._admin_execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(target_id),
                            "cannot close %r to new connections" % target)
        try:
            self._rename_closed(target, kept_name)
        except bm.BackupError:
            self._admin_execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(target_id),
                                "cannot reopen %r" % target)
            self._admin_execute(drop_staging, "cannot drop the staging database %r" % staging)
            raise
        self._admin_execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(staging_id, target_id),
                            "cannot rename the restored copy %r to %r (the old database is kept as %r)" % (staging, target, kept_name))
        kept_at = bm.iso(bm.utcnow())
        # Label and reopen the kept copy (read it to recover rows; db_maintenance drops it when old).
        self._admin_execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(kept_id, sql.Literal(
            kept.label(target, kept_at, self.params.get("clinic") or manifest.get("clinic"), os.path.basename(backup)))),
            "restored, but cannot label the kept database %r" % kept_name)
        self._admin_execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(kept_id),
                            "restored, but cannot reopen the kept database %r" % kept_name)
        since = self._rows_since_backup(kept_name, manifest)
        return {"created_database": False, "replaced_database": True, "database_kept": kept_name, "kept_at": kept_at,
                "rows_since_backup": since, "free_space": free_space,
                "restore_seconds": round(time.monotonic() - started, 3), "checks": checks + [counted], "command": redact(argv)}

    def _copy_database_acl(self, source, staging, owner):
        """Give the staging copy the database privileges of the one it replaces: pg_restore without
        --create carries none, and a default ACL would let every role connect to it."""
        rows = self._admin_execute(db_roles.ACL_SQL, "cannot read the privileges of %r" % source, (source,))
        try:
            statements = db_roles.copy_acl_statements(staging, owner, rows)
        except db_roles.DbRolesError as exc:
            raise bm.BackupError(str(exc))
        for statement in statements:
            self._admin_execute(statement, "cannot copy the privileges of %r to the staging database %r" % (source, staging))

    def _rename_closed(self, target, kept_name):
        """Close the target's sessions and rename it; a session that is still ending is waited for."""
        deadline = time.monotonic() + 30
        rename = sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(target), sql.Identifier(kept_name))
        while True:
            self._admin_execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                                "cannot close the connections to %r" % target, (target,))
            try:
                self._admin_execute(rename, "cannot set %r aside as %r" % (target, kept_name))
                return
            except bm.BackupError as exc:
                # 'being accessed by other users': a terminated backend has not exited yet.
                if "other users" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.2)

    def _rows_since_backup(self, kept_name, manifest):
        """Per table, rows in the kept database minus the backup's (kept_database.rows_since_backup)."""
        conn = self.connect(kept_name)
        try:
            counts = self.count_rows(conn, self.list_tables(conn))
        finally:
            conn.close()
        return kept.rows_since_backup(manifest.get("tables") or {}, counts)


def redact(argv):
    """argv as shown to users: it never holds a password, but say so explicitly for conninfo."""
    return [re.sub(r"password='(?:[^'\\]|\\.)*'", "password='********'", a) for a in argv]
