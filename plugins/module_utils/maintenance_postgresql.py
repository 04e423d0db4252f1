# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL upkeep: a reachability check, VACUUM ANALYZE, REINDEX and retention purges.

VACUUM goes, by default, only to the tables that need it (dead rows, or rows changed since their
last ANALYZE), so a window with nothing to do changes nothing and says so.

Purges delete in batches with a commit per batch, so a purge of millions of rows never holds one
long transaction (or its locks) and can be interrupted without losing the work already done.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import time

from ansible_collections.medops.runbook.plugins.module_utils import backup_manifest as bm
from ansible_collections.medops.runbook.plugins.module_utils import kept_database as kept
from ansible_collections.medops.runbook.plugins.module_utils import postgresql_driver as driver
from ansible_collections.medops.runbook.plugins.module_utils.postgresql_driver import psycopg2, sql


class MaintenanceError(Exception):
    """A maintenance step failed; the message names the step and the reason."""


def split_table(name):
    """``schema.table`` or ``table`` -> (schema or None, table). Names are identifiers, never SQL."""
    parts = name.split(".")
    if len(parts) > 2 or not all(parts):
        raise MaintenanceError("table %r must be 'table' or 'schema.table'" % name)
    return (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])


def _identifier(schema, table):
    return sql.Identifier(schema, table) if schema else sql.Identifier(table)


class PostgresMaintenance(object):
    def __init__(self, host, port, user, password, database, connect_timeout=10):
        self.params = dict(host=host, port=port, user=user, dbname=database, connect_timeout=connect_timeout,
                           application_name="medops.runbook.db_maintenance")
        self._password = password
        self.database = database
        self.conn = None

    def connect(self):
        self.conn = driver.connect(self.params, self._password, MaintenanceError)
        return self

    def close(self):
        if self.conn is not None:
            self.conn.close()

    def server_version(self):
        with self.conn.cursor() as cur:
            cur.execute("SHOW server_version")
            return cur.fetchone()[0]

    def _autocommit(self, statement, what):
        # Earlier reads opened a transaction; psycopg2 refuses to switch modes inside one.
        self.conn.rollback()
        self.conn.autocommit = True
        try:
            started = time.monotonic()
            with self.conn.cursor() as cur:
                cur.execute(statement)
            return round(time.monotonic() - started, 3)
        except psycopg2.Error as exc:
            raise MaintenanceError("%s failed on %r: %s" % (what, self.database, str(exc).strip()))
        finally:
            self.conn.autocommit = False

    def vacuum(self, analyze=True):
        # VACUUM cannot run inside a transaction block, hence autocommit.
        return self._autocommit(sql.SQL("VACUUM ANALYZE" if analyze else "VACUUM"), "VACUUM")

    def tables_needing_vacuum(self):
        """(schema, table) pairs of the tables with dead rows or rows changed since their last ANALYZE.

        The statistics are the server's, as autovacuum reads them; a backend's own writes reach
        them when its transaction ends, so the caller adds the tables it has just purged.
        """
        with self.conn.cursor() as cur:
            cur.execute("SELECT schemaname, relname FROM pg_stat_user_tables"
                        " WHERE n_dead_tup > 0 OR n_mod_since_analyze > 0 ORDER BY 1, 2")
            rows = cur.fetchall()
        self.conn.rollback()
        return [tuple(row) for row in rows]

    def qualified_name(self, table):
        """``table`` -> (schema, table), an unqualified name taking the session's current schema."""
        schema, name = split_table(table)
        if schema is None:
            with self.conn.cursor() as cur:
                cur.execute("SELECT current_schema()")
                schema = cur.fetchone()[0]
            self.conn.rollback()
        return (schema, name)

    def vacuum_tables(self, tables):
        """One ``VACUUM (ANALYZE)`` over the given (schema, table) pairs."""
        names = sql.SQL(", ").join(sql.Identifier(schema, name) for schema, name in tables)
        return self._autocommit(sql.SQL("VACUUM (ANALYZE) {}").format(names), "VACUUM")

    def analyze(self):
        return self._autocommit(sql.SQL("ANALYZE"), "ANALYZE")

    def reindex(self):
        return self._autocommit(sql.SQL("REINDEX DATABASE {}").format(sql.Identifier(self.database)), "REINDEX")

    def _check_column(self, schema, table, column):
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = COALESCE(%s, current_schema())"
                " AND table_name = %s AND column_name = %s", (schema, table, column))
            row = cur.fetchone()
        self.conn.rollback()
        if row is None:
            raise MaintenanceError("purge: no column %s in table %s of database %r"
                                   % (column, ".".join(p for p in (schema, table) if p), self.database))
        if "timestamp" not in row[0] and row[0] != "date":
            raise MaintenanceError("purge: column %s.%s is %s, not a date or timestamp" % (table, column, row[0]))

    def purge(self, table, column, older_than_days, batch_size, check_mode=False):
        """Delete rows whose ``column`` is older than ``older_than_days`` days, ``batch_size`` at a time.

        The cutoff is fixed once, from the server's clock, so rows that age during the purge stay.
        """
        schema, name = split_table(table)
        self._check_column(schema, name, column)
        target = _identifier(schema, name)
        col = sql.Identifier(column)
        with self.conn.cursor() as cur:
            cur.execute("SELECT now() - make_interval(days => %s)", (older_than_days,))
            cutoff = cur.fetchone()[0]
            cur.execute(sql.SQL("SELECT count(*) FROM {} WHERE {} < %s").format(target, col), (cutoff,))
            matching = cur.fetchone()[0]
        self.conn.rollback()
        result = dict(table=table, column=column, older_than_days=older_than_days, cutoff=cutoff.isoformat(),
                      matching=matching, deleted=0, batches=[])
        if check_mode or matching == 0:
            return result
        delete = sql.SQL("DELETE FROM {t} WHERE ctid IN (SELECT ctid FROM {t} WHERE {c} < %s LIMIT %s)").format(t=target, c=col)
        while True:
            try:
                with self.conn.cursor() as cur:
                    cur.execute(delete, (cutoff, batch_size))
                    deleted = cur.rowcount
                self.conn.commit()
            except psycopg2.Error as exc:
                self.conn.rollback()
                raise MaintenanceError("purge of %s stopped after %d rows (committed): %s"
                                       % (table, result["deleted"], str(exc).strip()))
            if deleted == 0:
                break
            result["deleted"] += deleted
            result["batches"].append(deleted)
        self._publish_statistics()
        return result

    def _publish_statistics(self):
        """Hand this session's row counts to the server now (PostgreSQL 15 and later).

        Otherwise they arrive when the session next idles, possibly after the VACUUM that follows
        has zeroed the table's dead-row count, and the next window would vacuum it again.
        """
        if self.conn.server_version < 150000:
            return
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_stat_force_next_flush()")
        self.conn.commit()

    def kept_databases(self, now=None):
        """The databases a restore kept from this database (kept_database), oldest first, with their age."""
        now = now or datetime.datetime.now(datetime.timezone.utc)
        with self.conn.cursor() as cur:
            cur.execute(kept.LIST_SQL, (kept.MARKER + "%",))
            rows = cur.fetchall()
        self.conn.rollback()
        found = []
        for name, comment in rows:
            fields = kept.parse_label(comment)
            if not kept.belongs_to(name, fields, self.database):
                continue
            try:
                kept_at = bm.parse_iso(fields["kept_at"])
            except (TypeError, ValueError):
                continue  # a label this code did not write: never ours to drop
            found.append(dict(name=name, kept_at=fields["kept_at"], clinic=fields.get("clinic"), backup=fields.get("backup"),
                              age_days=round((now - kept_at).total_seconds() / 86400.0, 2)))
        return sorted(found, key=lambda entry: entry["kept_at"])

    def drop_database(self, name):
        """DROP DATABASE (closing its sessions); the caller chose ``name`` from kept_databases."""
        statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        return self._autocommit(statement, "DROP DATABASE %s" % name)
