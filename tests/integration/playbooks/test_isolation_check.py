"""playbooks/isolation_check.yml on the lab: every clinic probes the others over SSH with its own
credentials; the lab is isolated, and a database grant that breaks it is found and named."""

from __future__ import annotations

import contextlib

import psycopg2
import pytest
from psycopg2 import sql

from harness.ansible import REPO, run_playbook

pytestmark = pytest.mark.lab
ISOLATION = REPO / "playbooks" / "isolation_check.yml"


def superuser_connection(lab):
    """The test's own server-side hand (the playbooks never log in like this)."""
    pg = lab.info["postgres"]
    return psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["superuser"], dbname="postgres",
                            password=lab.secret(pg["password_file"]))


def grant_connect(lab, database, role, grant=True):
    statement = "GRANT CONNECT ON DATABASE {} TO {}" if grant else "REVOKE CONNECT ON DATABASE {} FROM {}"
    with contextlib.closing(superuser_connection(lab)) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute(sql.SQL(statement).format(sql.Identifier(database), sql.Identifier(role)))


def test_the_lab_clinics_are_isolated_and_a_leak_is_named(lab):
    run = run_playbook(ISOLATION, inventory=lab.inventory, env=lab.env)
    assert run.rc == 0, run.output[-3000:]
    for code in ("kin", "lub", "gom"):
        assert f"{code} | " in run.flat and "| none" in run.flat
    lub_db, kin_role = lab.clinic("lub")["db_name"], lab.clinic("kin")["db_user"]
    grant_connect(lab, lub_db, kin_role)
    try:
        leaked = run_playbook(ISOLATION, inventory=lab.inventory, env=lab.env)
    finally:
        grant_connect(lab, lub_db, kin_role, grant=False)
    assert leaked.rc != 0
    assert "isolation broken: kin's database role can connect to lub's database" in leaked.flat, leaked.output[-3000:]
    for secret in lab.clinic_secrets("kin").values():
        assert secret not in leaked.output


def test_clinics_configured_on_one_queue_are_named(lab):
    """The lab's clinics share a Redis database and prefix, kept apart by their queue names; give every
    clinic kin's queue and the check names each pair."""
    run = run_playbook(ISOLATION, inventory=lab.inventory, env=lab.env, extra_vars={"clinic_queues": ["clinic-kin"]})
    assert run.rc != 0
    assert "kin and lub share queue keys" in run.flat and "lub and gom share queue keys" in run.flat, run.output[-3000:]
    assert "database role can connect" not in run.flat  # only the queues were changed
