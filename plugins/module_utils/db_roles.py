# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The three PostgreSQL roles of a clinic database, each with only the rights its playbook steps need.

- The application role (``clinic_<code>``) logs in, owns the database and every object its
  migrations create. Nothing else: no CREATEDB, no CREATEROLE.
- The backup role logs in and may CONNECT; it has USAGE on every schema of the database and SELECT
  on its tables and sequences, plus default privileges of the application role so that the
  schemas, tables and sequences later migrations create are readable too. That is what pg_dump
  needs: it reads the catalogs (every role may), takes an ACCESS SHARE lock on each table and
  COPYs it out (both need SELECT), and reads each sequence's state (SELECT).
- The restore role logs in, may CONNECT, has CREATEDB and is a member (INHERIT) of the
  application role. CREATEDB creates the staging database of a replace-restore and the scratch
  database of a restore check, and is required to rename a database. Membership in the owner
  lets it create the staging database OWNER the application role, restore objects owned by that
  role (pg_restore's ALTER ... OWNER TO, GRANTs, default privileges), close the application's
  sessions at the swap (pg_terminate_backend needs membership in the session's role), rename,
  label, reopen and finally drop (kept) databases that role owns, and run the maintenance
  window's purge, VACUUM and REINDEX DATABASE, which need the owner.
- No other role may connect: CONNECT and TEMPORARY are revoked from PUBLIC on the database, so
  one clinic's roles cannot reach another clinic's database.

The provisioning login (a non-superuser with CREATEROLE and CREATEDB, what a managed server's
admin account has) makes all of it, and grants itself membership in the application role: that
is what lets it create the database OWNER that role, connect to it, and set the application
role's default privileges.

``plan`` reads what exists and returns the statements still missing (nothing when all is in
place: a second run changes nothing); ``apply`` runs them. Passwords go to the server as SCRAM
verifiers computed here, so no plaintext password is in any statement, log or result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac
import os

from ansible_collections.medops.runbook.plugins.module_utils import postgresql_driver as driver
from ansible_collections.medops.runbook.plugins.module_utils.postgresql_driver import psycopg2, sql

KINDS = ("application", "backup", "restore")
MASK = driver.MASK
SCRAM_ITERATIONS = 4096

# Role attributes each kind must (True) and must not (False) have. SUPERUSER is not here: the
# provisioning login cannot change it, so a superuser among the roles is an error (check_roles).
ATTRIBUTES = {
    "application": {"LOGIN": True, "CREATEDB": False, "CREATEROLE": False, "REPLICATION": False, "BYPASSRLS": False},
    "backup": {"LOGIN": True, "CREATEDB": False, "CREATEROLE": False, "REPLICATION": False, "BYPASSRLS": False},
    "restore": {"LOGIN": True, "CREATEDB": True, "CREATEROLE": False, "REPLICATION": False, "BYPASSRLS": False,
                "INHERIT": True},
}
# pg_roles column of each attribute.
COLUMNS = {"LOGIN": "rolcanlogin", "CREATEDB": "rolcreatedb", "CREATEROLE": "rolcreaterole",
           "REPLICATION": "rolreplication", "BYPASSRLS": "rolbypassrls", "INHERIT": "rolinherit", "SUPERUSER": "rolsuper"}

ROLES_SQL = ("SELECT rolname, rolsuper, rolcanlogin, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolinherit"
             " FROM pg_roles WHERE rolname = ANY(%s)")
MEMBER_SQL = ("SELECT EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid"
              " JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = %s AND u.rolname = %s)")
# The database's owner and its ACL, one row per (grantee, privilege); grantee NULL is PUBLIC.
DATABASE_SQL = ("SELECT pg_get_userbyid(d.datdba), CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END,"
                " a.privilege_type, a.is_grantable FROM pg_database d,"
                " aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a WHERE d.datname = %s")
# Schemas, tables and sequences the backup role cannot read yet, owned by the application role
# (or, for schemas, by pg_database_owner: PostgreSQL 15's public schema).
SCHEMAS_SQL = ("SELECT n.nspname FROM pg_namespace n WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
               " AND pg_get_userbyid(n.nspowner) IN (%s, 'pg_database_owner')"
               " AND NOT has_schema_privilege(%s, n.oid, 'USAGE') ORDER BY 1")
RELATIONS_SQL = ("SELECT c.relkind = 'S', n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                 " WHERE c.relkind IN ('r', 'p', 'S') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
                 " AND pg_get_userbyid(c.relowner) = %s AND NOT has_table_privilege(%s, c.oid, 'SELECT') ORDER BY 2, 3")
# Tables and sequences the backup role cannot read and the provisioning login cannot grant on
# (another owner than the application role): pg_dump would fail on them, so they are reported.
FOREIGN_SQL = ("SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
               " WHERE c.relkind IN ('r', 'p', 'S') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'"
               " AND pg_get_userbyid(c.relowner) <> %s AND NOT has_table_privilege(%s, c.oid, 'SELECT') ORDER BY 1")
# Default privileges of the application role (all schemas) that name the backup role.
DEFAULTS_SQL = ("SELECT d.defaclobjtype, a.privilege_type FROM pg_default_acl d, aclexplode(d.defaclacl) a"
                " WHERE d.defaclrole = (SELECT oid FROM pg_roles WHERE rolname = %s) AND d.defaclnamespace = 0"
                " AND a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s)")
# (pg_default_acl object type, privilege, the ALTER DEFAULT PRIVILEGES word) the backup role needs.
BACKUP_DEFAULTS = (("r", "SELECT", "TABLES"), ("S", "SELECT", "SEQUENCES"), ("n", "USAGE", "SCHEMAS"))
# Database privileges the clinic's own roles get; PUBLIC gets none.
CONNECT_KINDS = ("backup", "restore")


class DbRolesError(Exception):
    """A role or database cannot be put in the wanted state; the message says why and what to do."""


# -- pure logic ------------------------------------------------------------------------------------
def role_names(application, backup=None, restore=None):
    """{kind: role name}: backup and restore default to ``<application>_backup`` / ``_restore``."""
    names = {"application": application, "backup": backup or application + "_backup",
             "restore": restore or application + "_restore"}
    check_names(names)
    return names


def check_names(names):
    """Refuse empty, over-long or repeated role names (PostgreSQL would truncate or merge them)."""
    for kind in KINDS:
        name = names.get(kind)
        if not name or not name.strip():
            raise DbRolesError("the %s role needs a name" % kind)
        if len(name.encode("utf-8")) > 63:
            raise DbRolesError("role name %r is longer than 63 bytes; PostgreSQL would truncate it" % name)
        if name.startswith("pg_"):
            raise DbRolesError("role name %r starts with pg_, which PostgreSQL reserves" % name)
    if len(set(names[kind] for kind in KINDS)) != len(KINDS):
        raise DbRolesError("the application, backup and restore roles must be three different roles, got %s"
                           % ", ".join("%s=%s" % (kind, names[kind]) for kind in KINDS))


def scram_verifier(password, salt=None, iterations=SCRAM_ITERATIONS):
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (what libpq's
    PQencryptPasswordConn computes), so that the password itself never reaches the server."""
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(data):
        return base64.b64encode(data).decode("ascii")

    return "SCRAM-SHA-256$%d:%s$%s:%s" % (iterations, b64(salt), b64(stored_key), b64(server_key))


def hashable(password):
    """Whether scram_verifier gives what the server would: PostgreSQL runs SASLprep on non-ASCII
    passwords, which is not reproduced here; those are sent for the server to hash."""
    try:
        password.encode("ascii")
    except UnicodeEncodeError:
        return False
    return True


def attribute_changes(kind, current):
    """The ALTER ROLE words (``CREATEDB``, ``NOLOGIN``...) that give role ``kind`` its attributes."""
    words = []
    for attribute, wanted in sorted(ATTRIBUTES[kind].items()):
        if bool(current.get(COLUMNS[attribute])) != wanted:
            words.append(attribute if wanted else "NO" + attribute)
    return words


def check_roles(names, roles):
    """Refuse superusers among the clinic's roles: the provisioning login cannot take that away,
    and a superuser would defeat every right given here."""
    for kind in KINDS:
        row = roles.get(names[kind])
        if row and row.get("rolsuper"):
            raise DbRolesError("role %r (the %s role) is a superuser; a superuser must run ALTER ROLE %s NOSUPERUSER "
                               "first (no playbook logs in as a superuser)" % (names[kind], kind, names[kind]))


def database_changes(owner, acl, names):
    """What the database's ACL still needs: (revoke from PUBLIC?, kinds still lacking CONNECT).

    ``acl`` is (grantee, privilege) pairs of the database's ACL, the grantee a role name or None
    for PUBLIC."""
    public = any(grantee is None for grantee, _privilege in acl)
    missing = [kind for kind in CONNECT_KINDS if (names[kind], "CONNECT") not in set(acl)]
    if owner is not None and owner != names["application"]:
        raise DbRolesError("database is owned by %r, not by the application role %r: its owner (or a superuser) must "
                           "run ALTER DATABASE ... OWNER TO %s" % (owner, names["application"], names["application"]))
    return public, missing


def missing_defaults(present):
    """The BACKUP_DEFAULTS entries absent from ``present`` ((objtype, privilege) pairs)."""
    return [entry for entry in BACKUP_DEFAULTS if (entry[0], entry[1]) not in set(present)]


def acl_grants(rows):
    """GRANT text pieces that rebuild a database ACL from aclexplode rows (grantee name or None for
    PUBLIC, privilege, grantable): [(privileges, grantee or None, with grant option)], one per
    grantee and grant option, privileges sorted. Used to give a replacement database its
    predecessor's ACL (pg_restore without --create does not carry database privileges)."""
    grouped = {}
    for grantee, privilege, grantable in rows:
        grouped.setdefault((grantee, bool(grantable)), set()).add(privilege)
    return [(sorted(privileges), grantee, grantable)
            for (grantee, grantable), privileges in sorted(grouped.items(), key=lambda item: (item[0][0] or "", item[0][1]))]


# A database's own ACL entries (none when it has the default ACL), for copying them to a replacement.
ACL_SQL = ("SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END, a.privilege_type, a.is_grantable"
           " FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = %s")
DATABASE_PRIVILEGES = ("CONNECT", "CREATE", "TEMPORARY")


def copy_acl_statements(database, owner, rows):
    """Statements giving ``database`` (owned by ``owner``, default ACL) the ACL whose aclexplode rows
    are ``rows`` (ACL_SQL of the database it replaces); none when that one has the default ACL."""
    if not rows:
        return []
    target = sql.Identifier(database)
    statements = [sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC, {}").format(target, sql.Identifier(owner))]
    for privileges, grantee, grantable in acl_grants(rows):
        unknown = sorted(set(privileges) - set(DATABASE_PRIVILEGES))
        if unknown:
            raise DbRolesError("unknown database privilege %s in the ACL of the database replaced" % ", ".join(unknown))
        to = sql.SQL("PUBLIC") if grantee is None else sql.Identifier(grantee)
        statements.append(sql.SQL("GRANT " + ", ".join(privileges) + " ON DATABASE {} TO {}"
                                  + (" WITH GRANT OPTION" if grantable else "")).format(target, to))
    return statements


def redact(text, passwords):
    """``text`` with each password (and its verifier's statement literal) masked."""
    for password in passwords:
        text = driver.scrub(text, password)
    return text


# -- statements ------------------------------------------------------------------------------------
class Statement(object):
    """One SQL statement, where it runs ("server": the maintenance database, "database": the clinic's),
    and how it is shown (never with a password)."""

    def __init__(self, where, query, shown, params=()):
        self.where, self.query, self.shown, self.params = where, query, shown, params


def _password_clause(password):
    """(SQL piece, params, shown): a SCRAM verifier when it can be computed here, else the password."""
    secret = scram_verifier(password) if hashable(password) else password
    return sql.SQL("PASSWORD %s"), (secret,), "PASSWORD " + MASK


def create_role(kind, name, password):
    words = " ".join(("%s" if wanted else "NO%s") % attribute for attribute, wanted in sorted(ATTRIBUTES[kind].items()))
    clause, params, shown = _password_clause(password)
    query = sql.SQL("CREATE ROLE {} " + words + " ").format(sql.Identifier(name)) + clause
    return Statement("server", query, "CREATE ROLE %s %s %s" % (name, words, shown), params)


def alter_role(name, words):
    query = sql.SQL("ALTER ROLE {} " + " ".join(words)).format(sql.Identifier(name))
    return Statement("server", query, "ALTER ROLE %s %s" % (name, " ".join(words)))


def set_password(name, password):
    clause, params, shown = _password_clause(password)
    query = sql.SQL("ALTER ROLE {} ").format(sql.Identifier(name)) + clause
    return Statement("server", query, "ALTER ROLE %s %s" % (name, shown), params)


def grant_role(role, member):
    query = sql.SQL("GRANT {} TO {}").format(sql.Identifier(role), sql.Identifier(member))
    return Statement("server", query, "GRANT %s TO %s" % (role, member))


def create_database(database, owner):
    query = sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(owner))
    return Statement("server", query, "CREATE DATABASE %s OWNER %s" % (database, owner))


def revoke_public(database):
    query = sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database))
    return Statement("server", query, "REVOKE ALL ON DATABASE %s FROM PUBLIC" % database)


def grant_connect(database, role):
    query = sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), sql.Identifier(role))
    return Statement("server", query, "GRANT CONNECT ON DATABASE %s TO %s" % (database, role))


def grant_usage(schemas, role):
    query = sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
        sql.SQL(", ").join(sql.Identifier(schema) for schema in schemas), sql.Identifier(role))
    return Statement("database", query, "GRANT USAGE ON SCHEMA %s TO %s" % (", ".join(schemas), role))


def grant_select(what, relations, role):
    query = sql.SQL("GRANT SELECT ON " + what + " {} TO {}").format(
        sql.SQL(", ").join(sql.Identifier(schema, name) for schema, name in relations), sql.Identifier(role))
    shown = ", ".join("%s.%s" % relation for relation in relations)
    return Statement("database", query, "GRANT SELECT ON %s %s TO %s" % (what, shown, role))


def default_privilege(owner, privilege, objects, role):
    query = sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} GRANT " + privilege + " ON " + objects + " TO {}").format(
        sql.Identifier(owner), sql.Identifier(role))
    return Statement("database", query, "ALTER DEFAULT PRIVILEGES FOR ROLE %s GRANT %s ON %s TO %s"
                     % (owner, privilege, objects, role))


# -- the server ------------------------------------------------------------------------------------
class ClinicDatabaseRoles(object):
    """The roles and database of one clinic on one server, seen through the provisioning login.

    ``keywords`` are libpq keywords (host, port, user, connect_timeout...) without a password;
    ``passwords`` is {kind: password} of the three roles."""

    def __init__(self, keywords, password, database, names, passwords, maintenance_database="postgres",
                 update_password="on_create"):
        check_names(names)
        for kind in KINDS:
            if not passwords.get(kind):
                raise DbRolesError("the %s role %r needs a password" % (kind, names[kind]))
        self.keywords = dict(keywords)
        self._password = password
        self.database = database
        self.names = names
        self._passwords = passwords
        self.maintenance_database = maintenance_database
        self.update_password = update_password
        self.warnings = []
        self.roles = {}

    # -- connections -----------------------------------------------------------------------------
    def connect(self, dbname, user=None, password=None):
        keywords = dict(self.keywords, dbname=dbname, application_name="medops.runbook.db_roles")
        if user:
            keywords["user"] = user
        conn = driver.connect(keywords, password or self._password, DbRolesError)
        conn.autocommit = True
        return conn

    def _query(self, conn, query, params=()):
        try:
            with conn.cursor() as cur:
                cur.execute(query, params)
                return cur.fetchall()
        except psycopg2.Error as exc:
            raise DbRolesError("reading %s failed: %s" % (query.split(" FROM ")[0][:60], str(exc).strip()))

    # -- plan ------------------------------------------------------------------------------------
    def plan(self):
        """The statements still needed, in order (server ones first): [] when everything is in place."""
        server = self.connect(self.maintenance_database)
        try:
            statements, exists = self._server_plan(server)
        finally:
            server.close()
        if exists:
            conn = self.connect(self.database)
            try:
                statements += self._database_plan(conn)
            finally:
                conn.close()
        else:
            statements += [default_privilege(self.names["application"], privilege, objects, self.names["backup"])
                           for _kind, privilege, objects in BACKUP_DEFAULTS]
        return statements

    def _server_plan(self, conn):
        """(statements, whether the database exists): roles, memberships, the database and its ACL."""
        names, app = self.names, self.names["application"]
        rows = self._query(conn, ROLES_SQL, ([names[kind] for kind in KINDS],))
        columns = ("rolname", "rolsuper", "rolcanlogin", "rolcreatedb", "rolcreaterole", "rolreplication",
                   "rolbypassrls", "rolinherit")
        self.roles = dict((row[0], dict(zip(columns, row))) for row in rows)
        check_roles(names, self.roles)
        statements = []
        for kind in KINDS:
            statements += self._role_plan(kind, self.roles.get(names[kind]))
        me = self._query(conn, "SELECT current_user")[0][0]
        for member in (names["restore"], me):
            new = app not in self.roles or (member != me and member not in self.roles)
            if new or not self._query(conn, MEMBER_SQL, (app, member))[0][0]:
                statements.append(grant_role(app, member))
        found = self._query(conn, DATABASE_SQL, (self.database,))
        exists = bool(found)
        if not exists:
            statements.append(create_database(self.database, app))
            # A new database has the default ACL: its owner's privileges, and PUBLIC's CONNECT and TEMPORARY.
            found = [(app, app, "CONNECT", False), (app, None, "CONNECT", False), (app, None, "TEMPORARY", False)]
        public, missing = database_changes(found[0][0], [(grantee, privilege) for _o, grantee, privilege, _g in found], names)
        if public:
            statements.append(revoke_public(self.database))
        statements += [grant_connect(self.database, names[kind]) for kind in missing]
        return statements, exists

    def _role_plan(self, kind, current):
        name, password = self.names[kind], self._passwords[kind]
        if current is None:
            return [create_role(kind, name, password)]
        statements = []
        words = attribute_changes(kind, current)
        if words:
            statements.append(alter_role(name, words))
        if self.update_password == "always" and not self._password_works(name, password):
            statements.append(set_password(name, password))
        return statements

    def _password_works(self, name, password):
        """Whether ``name`` logs in with ``password`` (to the clinic's database, else the maintenance
        one): the only way a non-superuser can tell, since it cannot read stored verifiers."""
        for dbname in (self.database, self.maintenance_database):
            try:
                self.connect(dbname, user=name, password=password).close()
                return True
            except DbRolesError as exc:
                if "password authentication failed" in str(exc):
                    return False
        return False

    def _database_plan(self, conn):
        """Schema USAGE, SELECT on tables and sequences, and default privileges for the backup role."""
        app, backup = self.names["application"], self.names["backup"]
        # A backup role this run creates can read what PUBLIC can: check against PUBLIC then.
        reader = backup if backup in self.roles else "public"
        statements = []
        schemas = [row[0] for row in self._query(conn, SCHEMAS_SQL, (app, reader))]
        if schemas:
            statements.append(grant_usage(schemas, backup))
        relations = self._query(conn, RELATIONS_SQL, (app, reader))
        for is_sequence, what in ((False, "TABLE"), (True, "SEQUENCE")):
            chosen = [(schema, name) for sequence, schema, name in relations if sequence == is_sequence]
            if chosen:
                statements.append(grant_select(what, chosen, backup))
        present = self._query(conn, DEFAULTS_SQL, (app, backup))
        statements += [default_privilege(app, privilege, objects, backup) for _t, privilege, objects in missing_defaults(present)]
        foreign = [row[0] for row in self._query(conn, FOREIGN_SQL, (app, reader))]
        if foreign:
            self.warnings.append("the backup role %r cannot read %s, owned by another role than %r: pg_dump will fail "
                                 "on them until their owner grants SELECT (or gives them to %r)"
                                 % (backup, ", ".join(foreign[:10]), app, app))
        return statements

    # -- apply -----------------------------------------------------------------------------------
    def apply(self, statements):
        """Run ``statements`` (from plan) in order; a failure names the statement, never a password."""
        conns = {}
        try:
            for statement in statements:
                where = self.maintenance_database if statement.where == "server" else self.database
                if where not in conns:
                    conns[where] = self.connect(where)
                self._run(conns[where], statement)
        finally:
            for conn in conns.values():
                conn.close()

    def _run(self, conn, statement):
        try:
            with conn.cursor() as cur:
                cur.execute(statement.query, statement.params)
        except psycopg2.Error as exc:
            reason = redact(str(exc).strip(), self._passwords.values())
            raise DbRolesError("%s failed: %s" % (statement.shown, reason))


def ensure(roles, check_mode=False):
    """Plan and (unless ``check_mode``) apply: {changed, statements (as shown), warnings}."""
    statements = roles.plan()
    if statements and not check_mode:
        roles.apply(statements)
    return {"changed": bool(statements), "statements": [s.shown for s in statements], "warnings": list(roles.warnings)}
