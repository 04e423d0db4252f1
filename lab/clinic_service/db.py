"""PostgreSQL access for the service and its migrations (psycopg2, password never on argv)."""

from __future__ import annotations

import contextlib
import threading

import psycopg2

CONNECT_TIMEOUT = 2


def connect(params: dict):
    conn = psycopg2.connect(connect_timeout=CONNECT_TIMEOUT, application_name="clinic_service", **params)
    conn.autocommit = True
    return conn


def probe(params: dict, wanted_migrations: list[str]) -> dict:
    """One short connection: is the database up, and which of our migrations are still pending?"""
    with contextlib.closing(connect(params)) as conn, conn.cursor() as cur:
        cur.execute("SELECT 1")
        cur.execute("SELECT to_regclass('public.schema_migrations') IS NOT NULL")
        applied = set()
        if cur.fetchone()[0]:
            cur.execute("SELECT version FROM schema_migrations")
            applied = {row[0] for row in cur.fetchall()}
    return {"pending": [name for name in wanted_migrations if name not in applied]}


class JobRecorder:
    """Writes each processed job into processed_jobs over one reused connection."""

    def __init__(self, params: dict, queue: str, version: str):
        self.params, self.queue, self.version = params, queue, version
        self._conn = None
        self._lock = threading.Lock()

    def record(self, job_id: str) -> None:
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = connect(self.params)
                    with self._conn.cursor() as cur:
                        cur.execute("INSERT INTO processed_jobs (job_id, queue, version) VALUES (%s, %s, %s)",
                                    (str(job_id), self.queue, self.version))
                    return
                except psycopg2.OperationalError:
                    # A connection that died with a database restart: reconnect once, then give up.
                    self.close()
                    if attempt == 2:
                        raise

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None
