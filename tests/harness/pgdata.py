"""PostgreSQL data for the db_backup tests (integration and reliability): module arguments for the
session's throwaway server, a clinic-like database to back up, a digest of a database's rows, and
the command lines of every process (to prove a password never shows in one)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

# The prefix db_backup gives a dump in progress (its final name only once it is complete).
PARTIAL = ".db_backup-partial-"


def pg_args(pg_server, database, dest=None, **extra) -> dict:
    """db_backup's arguments for ``database`` on ``pg_server`` (clinic kin), ``extra`` on top."""
    args = {"engine": "postgresql", "login_host": "127.0.0.1", "login_port": pg_server.port, "login_user": "postgres",
            "login_password": pg_server.password, "database": database, "clinic": "kin"}
    if dest is not None:
        args["dest"] = str(dest)
    args.update(extra)
    return args


def seed(pg_server, db, rows=2000):
    """Four tables in two schemas (one empty), with foreign keys, jsonb and quotes in the data:
    ``rows`` patients, 3 x ``rows`` visits, ``rows`` / 2 invoices in billing."""
    pg_server.execute(
        "CREATE SCHEMA billing;"
        "CREATE TABLE patients (id serial PRIMARY KEY, name text NOT NULL, born date, notes jsonb);"
        "CREATE TABLE visits (id bigserial PRIMARY KEY, patient_id int REFERENCES patients(id), at timestamptz, reason text);"
        "CREATE TABLE billing.invoices (id int PRIMARY KEY, amount numeric(10,2), paid boolean);"
        "CREATE TABLE empty_table (x int);"
        f"INSERT INTO patients (name, born, notes) SELECT 'patient ' || g, date '1950-01-01' + g, "
        f"  jsonb_build_object('g', g, 'q', 'it''s \"quoted\"') FROM generate_series(1, {rows}) g;"
        f"INSERT INTO visits (patient_id, at, reason) SELECT 1 + mod(g, {rows}), now() - g * interval '1 hour', md5(g::text)"
        f"  FROM generate_series(1, {rows * 3}) g;"
        f"INSERT INTO billing.invoices SELECT g, g * 1.25, mod(g, 2) = 0 FROM generate_series(1, {rows // 2}) g;",
        dbname=db)


def content(pg_server, db):
    """Every table's rows, hashed in a stable order: equal means the same data."""
    rows = pg_server.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables "
        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE' ORDER BY 1", dbname=db)
    sums = {}
    for (table,) in rows:
        schema, name = table.split(".")
        sums[table] = pg_server.execute(
            f'SELECT count(*), md5(coalesce(string_agg(t::text, \'|\' ORDER BY t::text), \'\')) FROM "{schema}"."{name}" t',
            dbname=db)[0]
    return sums


def drop(pg_server, *names):
    """Drop each database (any name, quotes included), connected sessions and all."""
    for name in names:
        quoted = name.replace('"', '""')
        pg_server.execute(f'DROP DATABASE IF EXISTS "{quoted}" WITH (FORCE)')


def cmdlines() -> dict[int, str]:
    """{pid: command line} of every process now running (arguments joined by spaces)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                found[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    return found
