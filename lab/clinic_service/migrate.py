"""``python -m clinic_service migrate``: apply this release's migrations, record them in schema_migrations.

A migration runs in one transaction unless its first line is ``-- migrate:no-transaction`` (for
statements PostgreSQL cannot run in a transaction block); such a migration runs statement by
statement, so a failure leaves the statements before it committed, as it would in production.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psycopg2

from . import RELEASE_DIR, VERSION, db

LOCK_ID = 7_240_115  # one migrator per database at a time
NO_TRANSACTION = "-- migrate:no-transaction"


class MigrationError(RuntimeError):
    pass


def release_migrations(release_dir: Path = RELEASE_DIR) -> list[Path]:
    return sorted((release_dir / "migrations").glob("*.sql"))


def _statements(sql: str) -> list[str]:
    return [part.strip() for part in sql.split(";\n") if part.strip() and not _only_comments(part)]


def _only_comments(part: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in part.splitlines())


def _apply(conn, path: Path) -> None:
    sql = path.read_text(encoding="utf-8")
    with conn.cursor() as cur:
        if sql.lstrip().startswith(NO_TRANSACTION):
            for statement in _statements(sql):
                cur.execute(statement)
            cur.execute("INSERT INTO schema_migrations (version, release) VALUES (%s, %s)", (path.stem, VERSION))
            return
        cur.execute("BEGIN")
        try:
            cur.execute(sql)
            cur.execute("INSERT INTO schema_migrations (version, release) VALUES (%s, %s)", (path.stem, VERSION))
            cur.execute("COMMIT")
        except Exception:
            cur.execute("ROLLBACK")
            raise


def migrate(db_params: dict, release_dir: Path = RELEASE_DIR) -> dict:
    try:
        conn = db.connect(db_params)
    except psycopg2.OperationalError as exc:
        raise MigrationError(f"cannot connect to database {db_params.get('dbname')!r}: {str(exc).strip()}") from None
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (LOCK_ID,))
            cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, release text NOT NULL,"
                        " applied_at timestamptz NOT NULL DEFAULT now())")
            cur.execute("SELECT version FROM schema_migrations")
            done = {row[0] for row in cur.fetchall()}
        applied = []
        for path in release_migrations(release_dir):
            if path.stem in done:
                continue
            try:
                _apply(conn, path)
            except psycopg2.Error as exc:
                raise MigrationError(f"migration {path.stem} of release {VERSION} failed: {str(exc).strip()}"
                                     f" (migrations applied before it in this run: {applied or 'none'})") from None
            applied.append(path.stem)
        return {"version": VERSION, "applied": applied, "already_applied": sorted(done), "changed": bool(applied)}
    finally:
        conn.close()


def main(cfg) -> int:
    try:
        result = migrate(cfg.db)
    except MigrationError as exc:
        print(f"clinic_service migrate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0
