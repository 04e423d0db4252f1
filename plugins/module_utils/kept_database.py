# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Databases set aside by a restore, instead of dropped: their names, their labels, their age.

``db_backup restore_mode=replace`` renames the database it replaces to ``<db>_kept_<UTC stamp>``
and labels it with a ``COMMENT ON DATABASE`` that starts with ``MARKER`` and holds JSON (which
database it was, when it was set aside, the clinic, the backup restored over it). Rows written after
the backup live on there, and nowhere else. ``db_maintenance`` drops the kept databases of one
database once they are old enough; it only ever considers databases that carry this label and
whose name is that database's kept name, so it cannot drop anything a person made.

Pure functions here; the SQL runs in backup_postgresql and maintenance_postgresql.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

MARKER = "medops.runbook kept database "
# PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes.
MAX_IDENTIFIER_BYTES = 63
STAMP_FORMAT = "%Y%m%d%H%M%S"
INFIX = "_kept_"

# Every database with a comment, for list_kept (a non-superuser may read these).
LIST_SQL = ("SELECT d.datname, shobj_description(d.oid, 'pg_database') FROM pg_database d"
            " WHERE shobj_description(d.oid, 'pg_database') LIKE %s ORDER BY 1")


def _truncate_bytes(text, limit):
    """``text`` cut to at most ``limit`` UTF-8 bytes, never inside a character."""
    data = text.encode("utf-8")[:limit]
    return data.decode("utf-8", "ignore")


def kept_prefix(database):
    """The start every kept name of ``database`` has: the name cut so the stamp always fits."""
    room = MAX_IDENTIFIER_BYTES - len(INFIX) - len("YYYYMMDDHHMMSS") - len("_9")
    return _truncate_bytes(database, room) + INFIX


def kept_name(database, moment, taken=()):
    """``<db>_kept_<YYYYMMDDHHMMSS>`` (UTC), within 63 bytes; ``_2``.. ``_9`` when that name is taken."""
    base = kept_prefix(database) + moment.strftime(STAMP_FORMAT)
    if base not in taken:
        return base
    for number in range(2, 10):
        name = "%s_%d" % (base, number)
        if name not in taken:
            return name
    raise ValueError("ten databases kept from %r in the same second: drop some of %s first" % (database, sorted(taken)[:3]))


def label(database, kept_at, clinic, backup):
    """The COMMENT ON DATABASE text of a kept database."""
    return MARKER + json.dumps({"kept_from": database, "kept_at": kept_at, "clinic": clinic, "backup": backup},
                               sort_keys=True)


def parse_label(comment):
    """The label's fields, or None when ``comment`` is not a kept database's label."""
    if not comment or not comment.startswith(MARKER):
        return None
    try:
        fields = json.loads(comment[len(MARKER):])
    except ValueError:
        return None
    if not isinstance(fields, dict) or not fields.get("kept_from") or not fields.get("kept_at"):
        return None
    return fields


def belongs_to(name, fields, database):
    """Whether a labelled database ``name`` is a kept copy of ``database`` (label and name agree)."""
    prefix = kept_prefix(database)
    return (fields is not None and fields.get("kept_from") == database and name.startswith(prefix)
            and re.match(r"^\d{14}(_\d)?$", name[len(prefix):]) is not None)


def rows_since_backup(manifest_counts, kept_counts):
    """Per table (``schema.table``), rows in the kept database minus rows in the backup.

    Only the tables where the two differ; a table missing on one side counts 0 there (a table a
    migration created shows all its rows; one it dropped shows minus the backup's). Counts, not row
    identities: five rows inserted and five deleted since the backup show as no difference."""
    delta = {}
    for table in set(manifest_counts) | set(kept_counts):
        diff = int(kept_counts.get(table, 0)) - int(manifest_counts.get(table, 0))
        if diff:
            delta[table] = diff
    return dict(sorted(delta.items()))


def required_bytes(copy_bytes, min_free_bytes):
    """Free bytes a restore needs: room for the restored copy, plus what must stay free after it."""
    return int(copy_bytes) + int(min_free_bytes)


def human_bytes(count):
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return "%d %s" % (value, unit) if unit == "B" else "%.1f %s" % (value, unit)
        value /= 1024.0
    return "%d B" % count
