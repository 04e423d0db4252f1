"""medops.runbook.db_roles on a real PostgreSQL, logged in as a provisioning role (CREATEROLE,
CREATEDB), never as a superuser; then the roles it made do what the playbooks need of them: the
backup role dumps with the real pg_dump, the restore role replace-restores, checks restores and runs
the maintenance window, and no role reaches another clinic's database."""

from __future__ import annotations

import contextlib
import uuid

import psycopg2
import pytest

from ansible_collections.medops.runbook.plugins.module_utils import kept_database
from harness.ansible import run_module
from harness.pgdata import pg_args

KINDS = ("application", "backup", "restore")


class Clinic:
    """One clinic's names and passwords on the session's server, and its provisioning role."""

    def __init__(self, pg_server):
        self.pg = pg_server
        self.code = "t" + uuid.uuid4().hex[:8]
        self.database = f"clinic_{self.code}"
        self.names = {"application": self.database, "backup": self.database + "_backup", "restore": self.database + "_restore"}
        self.passwords = {kind: f"{kind}-{uuid.uuid4().hex}" for kind in KINDS}
        self.provisioner, self.provisioner_password = f"prov_{self.code}", f"prov-{uuid.uuid4().hex}"

    def args(self, **extra) -> dict:
        args = {"login_host": "127.0.0.1", "login_port": self.pg.port, "login_user": self.provisioner,
                "login_password": self.provisioner_password, "database": self.database,
                "application_role": self.names["application"], "application_password": self.passwords["application"],
                "backup_password": self.passwords["backup"], "restore_password": self.passwords["restore"]}
        args.update(extra)
        return args

    def connect(self, kind, dbname=None):
        conn = psycopg2.connect(host="127.0.0.1", port=self.pg.port, user=self.names[kind], password=self.passwords[kind],
                                dbname=dbname or self.database, connect_timeout=5)
        conn.autocommit = True
        return conn

    def run(self, kind, statement, params=(), dbname=None):
        with contextlib.closing(self.connect(kind, dbname)) as conn, conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def login(self, kind) -> dict:
        """db_backup / db_maintenance login options for one of the clinic's roles."""
        return {"login_user": self.names[kind], "login_password": self.passwords[kind]}

    def secrets(self):
        return [self.provisioner_password, *self.passwords.values()]

    def drop(self):
        """Teardown, as the server's superuser: the clinic's databases, then its roles."""
        for (name,) in self.pg.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (self.database + "%",)):
            self.pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for role in (self.names["restore"], self.names["backup"], self.names["application"], self.provisioner):
            self.pg.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture()
def make_clinic(pg_server):
    made = []

    def factory(provisioner_rights="CREATEROLE CREATEDB") -> Clinic:
        clinic = Clinic(pg_server)
        made.append(clinic)
        # Server setup (a superuser's one act): the provisioning role. Everything else is the module's.
        pg_server.execute(f'CREATE ROLE "{clinic.provisioner}" LOGIN {provisioner_rights} PASSWORD %s',
                          (clinic.provisioner_password,))
        return clinic

    yield factory
    for clinic in made:
        clinic.drop()


@pytest.fixture()
def clinic(make_clinic):
    made = make_clinic()
    result = run_module("db_roles", made.args())
    assert result["changed"] and not result.get("failed"), result.get("msg")
    return made


def roles(pg_server, clinic):
    rows = pg_server.execute("SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin FROM pg_roles"
                             " WHERE rolname = ANY(%s)", (list(clinic.names.values()),))
    return {row[0]: row[1:] for row in rows}


def test_check_mode_then_a_run_then_nothing_left_to_do(make_clinic, pg_server):
    clinic = make_clinic()
    planned = run_module("db_roles", clinic.args(), check=True)
    assert planned["changed"] and f"CREATE DATABASE {clinic.database} OWNER {clinic.database}" in planned["statements"]
    assert roles(pg_server, clinic) == {}, "check mode created roles"
    assert not pg_server.execute("SELECT 1 FROM pg_database WHERE datname = %s", (clinic.database,))

    made = run_module("db_roles", clinic.args())
    assert made["changed"] and made["statements"] == planned["statements"], made.get("msg")
    assert made["roles"] == clinic.names
    names = clinic.names
    # (rolsuper, rolcreatedb, rolcreaterole, rolcanlogin): only the restore role may create databases.
    assert roles(pg_server, clinic) == {names["application"]: (False, False, False, True),
                                        names["backup"]: (False, False, False, True),
                                        names["restore"]: (False, True, False, True)}
    owner, acl = pg_server.execute("SELECT pg_get_userbyid(datdba), datacl::text[] FROM pg_database WHERE datname = %s",
                                   (clinic.database,))[0]
    assert owner == names["application"]
    assert sorted(entry.split("=")[0] for entry in acl) == sorted(names.values()), "PUBLIC must not be in the ACL"
    assert pg_server.execute("SELECT pg_has_role(%s, %s, 'USAGE')", (names["restore"], names["application"]))[0][0]

    again = run_module("db_roles", clinic.args())
    assert (again["changed"], again["statements"]) == (False, []), again["statements"]
    assert run_module("db_roles", clinic.args(), check=True)["changed"] is False


def test_backup_role_dumps_what_later_migrations_create_and_writes_nothing(clinic, tmp_path):
    # A migration after the roles were made: a new schema, tables, sequences, rows.
    clinic.run("application", "CREATE SCHEMA billing; CREATE TABLE patients (id serial PRIMARY KEY, name text);"
                              "CREATE TABLE billing.invoices (id bigserial PRIMARY KEY, patient int REFERENCES patients);"
                              "INSERT INTO patients (name) SELECT 'p' || g FROM generate_series(1, 50) g;"
                              "INSERT INTO billing.invoices (patient) SELECT id FROM patients")
    dumped = run_module("db_backup", pg_args(clinic.pg, clinic.database, tmp_path, state="dumped", **clinic.login("backup")))
    assert dumped["changed"] and not dumped.get("failed"), dumped.get("msg")
    assert dumped["manifest"]["tables"] == {"billing.invoices": 50, "public.patients": 50}
    with pytest.raises(psycopg2.Error, match="permission denied"):
        clinic.run("backup", "INSERT INTO patients (name) VALUES ('not the backup role')")
    with pytest.raises(psycopg2.Error, match="permission denied"):
        clinic.run("backup", "CREATE TABLE scratch (x int)")
    # Nothing to grant afterwards: the default privileges covered the migration.
    assert run_module("db_roles", clinic.args())["changed"] is False


def test_restore_role_replaces_the_database_keeping_owner_acl_and_ownership(clinic, tmp_path):
    clinic.run("application", "CREATE TABLE patients (id serial PRIMARY KEY, name text);"
                              "INSERT INTO patients (name) SELECT 'p' || g FROM generate_series(1, 20) g")
    dumped = run_module("db_backup", pg_args(clinic.pg, clinic.database, tmp_path, state="dumped", **clinic.login("backup")))
    # A migration the rollback must undo: a dependent table and more rows.
    clinic.run("application", "CREATE TABLE visits (id serial, patient int REFERENCES patients);"
                              "INSERT INTO patients (name) VALUES ('after the backup')")
    restored = run_module("db_backup", pg_args(clinic.pg, clinic.database, state="restored", backup=dumped["backup"],
                                               restore_mode="replace", **clinic.login("restore")))
    assert restored["changed"] and restored["replaced_database"], restored.get("msg")
    kept = restored["database_kept"]
    assert restored["rows_since_backup"] == {"public.patients": 1}
    live_acl, kept_acl = (clinic.pg.execute("SELECT pg_get_userbyid(datdba), datacl::text FROM pg_database WHERE datname = %s",
                                            (name,))[0] for name in (clinic.database, kept))
    assert live_acl == kept_acl and live_acl[0] == clinic.names["application"]
    owners = clinic.run("application", "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c JOIN pg_namespace n"
                                       " ON n.oid = c.relnamespace WHERE n.nspname = 'public'")
    assert owners == [(clinic.names["application"],)], "restored objects belong to the application role"
    assert clinic.run("backup", "SELECT count(*) FROM patients") == [(20,)], "the backup role reads the restored tables"
    assert run_module("db_roles", clinic.args())["changed"] is False

    # backup_verify's restore check, and the maintenance window, as the restore role.
    verified = run_module("db_backup", pg_args(clinic.pg, clinic.database, state="verified", backup=dumped["backup"],
                                               restore_check=True, **clinic.login("restore")))
    assert not verified.get("failed") and all(check["ok"] for check in verified["checks"]), verified.get("msg")
    # The kept database, years later (its label's time is its age).
    label = kept_database.label(clinic.database, "2000-01-01T00:00:00.000000Z", clinic.code, "backup.dump")
    clinic.pg.execute(f'COMMENT ON DATABASE "{kept}" IS %s', (label,))
    # Rows 1 to 10 days old: the 6 of 5 days and more are past a 5-day retention (its cutoff comes later).
    clinic.run("application", "CREATE TABLE audit (at timestamptz); INSERT INTO audit SELECT now() - g * interval '1 day'"
                              " FROM generate_series(1, 10) g")
    window = run_module("db_maintenance", {"login_host": "127.0.0.1", "login_port": clinic.pg.port, "database": clinic.database,
                                           "vacuum": True, "vacuum_scope": "all", "reindex": True, "drop_kept_older_than_days": 14,
                                           "purge": [{"table": "audit", "column": "at", "older_than_days": 5}],
                                           **clinic.login("restore")})
    assert not window.get("failed"), window.get("msg")
    assert window["purged"][0]["deleted"] == 6 and window["reindex_seconds"] >= 0
    assert [(entry["name"], entry["action"]) for entry in window["kept_databases"]] == [(kept, "dropped")]


def test_one_clinics_roles_cannot_connect_to_another_clinics_database(clinic, make_clinic):
    other = make_clinic()
    assert run_module("db_roles", other.args())["changed"]
    for kind in KINDS:
        with pytest.raises(psycopg2.OperationalError, match="CONNECT privilege"):
            clinic.connect(kind, dbname=other.database)
        with pytest.raises(psycopg2.OperationalError, match="CONNECT privilege"):
            other.connect(kind, dbname=clinic.database)
        clinic.connect(kind).close()


def test_a_changed_password_is_set_again_only_with_update_password_always(clinic):
    new = "rotated-" + uuid.uuid4().hex
    kept = run_module("db_roles", clinic.args(application_password=new))
    assert kept["changed"] is False, "on_create leaves an existing role's password alone"
    rotated = run_module("db_roles", clinic.args(application_password=new, update_password="always"), "-vvv")
    assert rotated["statements"] == [f"ALTER ROLE {clinic.database} PASSWORD ********"]
    clinic.passwords["application"] = new
    clinic.connect("application").close()
    assert run_module("db_roles", clinic.args(update_password="always"))["changed"] is False
    for secret in clinic.secrets():
        assert secret not in rotated["_run"].output


@pytest.mark.parametrize("change, message", [
    ({"backup_role": "same_as_restore", "restore_role": "same_as_restore"}, "three different roles"),
    ({"login_port": 70000}, "login_port must be between 1 and 65535"),
    ({"database": " "}, "database must not be empty"),
    ({"login_password": "wrong-provisioner-password"}, "cannot connect to PostgreSQL database 'postgres'"),
])
def test_bad_input_is_refused_with_a_clear_message(make_clinic, change, message):
    clinic = make_clinic()
    result = run_module("db_roles", clinic.args(**change), "-vvv")
    assert result["failed"] and message in result["msg"], result["msg"]
    for secret in clinic.secrets():
        assert secret not in result["_run"].output


def test_a_provisioning_role_without_createrole_is_told_what_failed(make_clinic):
    clinic = make_clinic(provisioner_rights="CREATEDB")
    result = run_module("db_roles", clinic.args())
    assert result["failed"] and f"CREATE ROLE {clinic.database} " in result["msg"] and "permission denied" in result["msg"]
    assert "PASSWORD ********" in result["msg"] and clinic.passwords["application"] not in result["msg"]


def test_a_superuser_clinic_role_is_refused(make_clinic, pg_server):
    clinic = make_clinic()
    pg_server.execute(f'CREATE ROLE "{clinic.names["backup"]}" LOGIN SUPERUSER')
    result = run_module("db_roles", clinic.args())
    assert result["failed"] and "is a superuser" in result["msg"] and "NOSUPERUSER" in result["msg"], result["msg"]
