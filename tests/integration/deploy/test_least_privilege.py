"""The lab's database logins are least-privilege roles, none a superuser, and a deploy whose
migration fails still rolls the clinic back with its database restored.

Shares the session lab with test_deploy.py (its helpers and its 1.2.0-badmigration release); the
server's own log of connections says which roles the playbooks really logged in as.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import psycopg2
import pytest

from harness.ansible import REPO, run_playbook
from test_deploy import admin_connection, deploy, drop_kept_databases, ensure_live, kept_databases, record, table_checksums, writer_rows

pytestmark = pytest.mark.lab
DB_ROLES = REPO / "playbooks" / "db_roles.yml"
# Every database login an inventory gives the playbooks: (user variable, password variable).
LOGINS = (("clinic_db_user", "clinic_db_password"), ("clinic_db_backup_user", "clinic_db_backup_password"),
          ("clinic_db_restore_user", "clinic_db_restore_password"),
          ("clinic_db_provisioner_user", "clinic_db_provisioner_password"))
CLINIC_LOGINS = LOGINS[:3]


def hostvars(lab):
    """Each clinic's inventory variables, with the passwords its vault holds decrypted."""
    return {host: {**values, **lab.clinic_secrets(host)} for host, values in lab.inventory_list()["_meta"]["hostvars"].items()}


def login(lab, values, user_var, password_var, dbname):
    pg = lab.info["postgres"]
    return psycopg2.connect(host=pg["host"], port=pg["port"], user=values[user_var], password=values[password_var],
                            dbname=dbname, connect_timeout=5)


@contextlib.contextmanager
def connection_log(lab):
    """The (user, database) of every connection the server authorizes inside the block, read from its
    log (log_connections on for the block's duration)."""
    logfile = Path(lab.info["postgres"]["datadir"]).parent / "data.log"
    with contextlib.closing(admin_connection(lab)) as conn, conn.cursor() as cur:
        cur.execute("ALTER SYSTEM SET log_connections = on")
        cur.execute("SELECT pg_reload_conf()")
    time.sleep(0.5)  # the postmaster reads the new setting on SIGHUP
    start = logfile.stat().st_size
    seen: list[tuple[str, str]] = []
    try:
        yield seen
    finally:
        with logfile.open(encoding="utf-8", errors="replace") as handle:
            handle.seek(start)
            seen += re.findall(r"connection authorized: user=(\S+) database=(\S+)", handle.read())
        with contextlib.closing(admin_connection(lab)) as conn, conn.cursor() as cur:
            cur.execute("ALTER SYSTEM RESET log_connections")
            cur.execute("SELECT pg_reload_conf()")


def test_no_database_login_of_the_inventory_is_a_superuser(lab):
    """Each login logs in with its own password and is no superuser; only the restore role may create
    databases, only the provisioning role may create roles."""
    found = {}
    for host, values in hostvars(lab).items():
        for user_var, password_var in LOGINS:
            with contextlib.closing(login(lab, values, user_var, password_var, "postgres")) as conn, conn.cursor() as cur:
                cur.execute("SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user")
                found[(host, user_var)] = cur.fetchone()
    assert found and not any(rolsuper for rolsuper, _db, _role in found.values()), found
    for (host, user_var), (_super, createdb, createrole) in found.items():
        assert createdb == (user_var in ("clinic_db_restore_user", "clinic_db_provisioner_user")), (host, user_var)
        assert createrole == (user_var == "clinic_db_provisioner_user"), (host, user_var)


def test_kin_roles_cannot_connect_to_lub_database(lab):
    values, lub = hostvars(lab)["kin"], lab.clinic("lub")["db_name"]
    for user_var, password_var in CLINIC_LOGINS:
        with pytest.raises(psycopg2.OperationalError, match="CONNECT privilege"):
            login(lab, values, user_var, password_var, lub)
        login(lab, values, user_var, password_var, values["clinic_db_name"]).close()


def test_db_roles_playbook_finds_the_lab_roles_in_place(lab):
    for args in ((), ("--check",)):
        run = run_playbook(DB_ROLES, *args, inventory=lab.inventory, env=lab.env)
        assert run.rc == 0, run.output[-3000:]
        recap = run.output.split("PLAY RECAP")[-1]
        assert "changed=0" in recap and "failed=0" in recap and "kin" in recap, recap
        assert run.flat.count("roles and privileges already in place") == len(lab.clinics)


def test_failed_migration_rolls_back_the_database_with_least_privilege_logins_only(lab):
    ensure_live(lab, "1.1.0")
    # test_deploy.py's failed-migration tests mark the release bad; as an operator would, clear it.
    marker = Path(lab.clinic("kin")["app_root"]) / "releases" / "1.2.0-badmigration" / ".medops-bad"
    marker.unlink(missing_ok=True)
    values = hostvars(lab)["kin"]
    tag = f"least-privilege-{os.getpid()}-{int(time.time())}"
    with contextlib.closing(psycopg2.connect(**lab.db_params("kin"))) as conn, conn.cursor() as cur:
        for index in range(5):
            cur.execute("INSERT INTO patients (full_name) VALUES (%s)", (f"{tag}-{index}",))
        conn.commit()
    before = table_checksums(lab, "kin")
    try:
        with connection_log(lab) as seen:
            run = deploy(lab, "1.2.0-badmigration", "--limit", "kin")
        assert run.rc != 0
        assert "kin: deploy of 1.2.0-badmigration failed at step 'migrate'" in run.flat, run.output[-4000:]
        assert "with the database restored from" in run.flat
        # The database is back, every row written before the deploy in it.
        assert table_checksums(lab, "kin") == before
        assert writer_rows(lab, "clinic_kin", tag) == [f"{tag}-{index}" for index in range(5)]
        assert lab.version("kin") == "1.1.0" and lab.get("kin", "/health/ready")[0] == 200
        # Who logged in: the backup as the backup role, the restore as the restore role, the service
        # and its migrations as the application role; nobody else, and no superuser.
        users = {user for user, _database in seen}
        assert {values["clinic_db_backup_user"], values["clinic_db_restore_user"], values["clinic_db_user"]} <= users, seen
        assert users <= {values[user_var] for user_var, _password in CLINIC_LOGINS}, sorted(users)
        with contextlib.closing(admin_connection(lab)) as conn, conn.cursor() as cur:
            cur.execute("SELECT rolname FROM pg_roles WHERE rolsuper AND rolname = ANY(%s)", (sorted(users),))
            assert cur.fetchall() == []
            # The restored database: same owner and privileges as the one it replaced, kept aside.
            kept = record(lab, "kin")[-1]["database_kept"]
            assert kept_databases(lab, "kin") == [kept]
            cur.execute("SELECT datname, pg_get_userbyid(datdba), datacl::text FROM pg_database WHERE datname IN (%s, %s)",
                        ("clinic_kin", kept))
            acl = {name: (owner, text) for name, owner, text in cur.fetchall()}
        assert acl["clinic_kin"] == acl[kept] and acl["clinic_kin"][0] == values["clinic_db_user"], acl
        with pytest.raises(psycopg2.OperationalError, match="CONNECT privilege"):
            login(lab, hostvars(lab)["lub"], "clinic_db_restore_user", "clinic_db_restore_password", "clinic_kin")
    finally:
        drop_kept_databases(lab, "kin")
        marker.unlink(missing_ok=True)
        with contextlib.closing(psycopg2.connect(**lab.db_params("kin"))) as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM patients WHERE full_name LIKE %s", (tag + "-%",))
            conn.commit()
