#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: db_roles
short_description: A clinic database's least-privilege PostgreSQL roles (application, backup, restore)
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.db_connection
  - medops.runbook.db_connection.maintenance_database
description:
  - Makes the three login roles of one clinic database and the database itself, each role with only the
    rights its playbook steps need, and says which statements it ran (never a password).
  - The application role (O(application_role)) owns the database and every object its migrations create;
    it gets no CREATEDB and no CREATEROLE.
  - The backup role (O(backup_role)) may CONNECT and has USAGE on the database's schemas and SELECT on its
    tables and sequences, plus default privileges of the application role so that schemas, tables and
    sequences created later are covered. That is what C(pg_dump) of the database needs.
  - The restore role (O(restore_role)) may CONNECT, has CREATEDB and is a member (INHERIT) of the application
    role. CREATEDB creates the staging database of a M(medops.runbook.db_backup)
    O(medops.runbook.db_backup#module:restore_mode=replace) restore and the scratch database of a restore
    check, and is needed to rename a database. Membership in the owner lets it create the staging database
    owned by the application role, restore objects owned by that role, close the application's sessions at
    the swap, rename and drop databases that role owns (kept databases included), and run
    M(medops.runbook.db_maintenance)'s purge, VACUUM and REINDEX.
  - CONNECT and TEMPORARY are revoked from PUBLIC on the database, so the roles of one clinic cannot connect to
    another clinic's database.
  - The login (O(login_user)) should be a provisioning role with CREATEROLE and CREATEDB, not a superuser. It
    grants itself membership in the application role (to create the database owned by that role and set its
    default privileges). It cannot take SUPERUSER away, so a superuser among the three roles is an error.
  - Passwords reach the server as SCRAM-SHA-256 verifiers computed by the module (for passwords that are
    ASCII), so the password itself is in no statement or server log.
author:
  - medops.runbook contributors (@medops-runbook)
requirements:
  - psycopg2
attributes:
  check_mode:
    support: full
    details: Reads what exists and returns the statements it would run in RV(statements); runs none.
  diff_mode:
    support: none
options:
  database:
    description: The clinic's database; created (owned by O(application_role)) when it does not exist.
    type: str
    required: true
  application_role:
    description: The application's login role, owner of O(database).
    type: str
    required: true
  application_password:
    description: Its password.
    type: str
    required: true
  backup_role:
    description: The backup login role. Default is O(application_role) followed by C(_backup).
    type: str
  backup_password:
    description: Its password.
    type: str
    required: true
  restore_role:
    description: The restore login role. Default is O(application_role) followed by C(_restore).
    type: str
  restore_password:
    description: Its password.
    type: str
    required: true
  update_password:
    description:
      - V(on_create) sets a password only when the role is created.
      - V(always) also sets it when the role cannot log in with it (the module tries a login, since only a
        superuser may read stored passwords), so a changed vault password is applied on the next run.
    type: str
    choices: [on_create, always]
    default: on_create
"""

EXAMPLES = r"""
- name: Make kin's database and its application, backup and restore roles
  medops.runbook.db_roles:
    login_host: kin-db-01.example.org
    login_user: medops_provisioner
    login_password: "{{ vault_clinic_db_provisioner_passwords.kin }}"
    database: clinic_kin
    application_role: clinic_kin
    application_password: "{{ vault_clinic_db_passwords.kin }}"
    backup_password: "{{ vault_clinic_db_backup_passwords.kin }}"
    restore_password: "{{ vault_clinic_db_restore_passwords.kin }}"
    update_password: always
"""

RETURN = r"""
roles:
  description: The role name of each kind, C(application), C(backup) and C(restore).
  returned: success
  type: dict
  sample: {"application": "clinic_kin", "backup": "clinic_kin_backup", "restore": "clinic_kin_restore"}
statements:
  description:
    - The statements run (in check mode, the ones that would run), in order; passwords show as C(********).
      Empty when everything was in place.
  returned: success
  type: list
  elements: str
  sample: ["CREATE DATABASE clinic_kin OWNER clinic_kin", "REVOKE ALL ON DATABASE clinic_kin FROM PUBLIC"]
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.medops.runbook.plugins.module_utils import db_roles
from ansible_collections.medops.runbook.plugins.module_utils import postgresql_driver


def argument_spec():
    spec = postgresql_driver.postgresql_argument_spec(maintenance_database=True)
    spec.update(
        database=dict(type="str", required=True),
        application_role=dict(type="str", required=True),
        application_password=dict(type="str", required=True, no_log=True),
        backup_role=dict(type="str"),
        backup_password=dict(type="str", required=True, no_log=True),
        restore_role=dict(type="str"),
        restore_password=dict(type="str", required=True, no_log=True),
        update_password=dict(type="str", choices=["on_create", "always"], default="on_create", no_log=False),
    )
    return spec


def clinic_roles(params):
    """The ClinicDatabaseRoles the options describe (DbRolesError for bad names or passwords)."""
    for problem in postgresql_driver.login_problems(params):
        raise db_roles.DbRolesError(problem)
    if not params["database"].strip():
        raise db_roles.DbRolesError("database must not be empty")
    names = db_roles.role_names(params["application_role"], params["backup_role"], params["restore_role"])
    passwords = dict((kind, params[kind + "_password"]) for kind in ("backup", "restore"))
    passwords["application"] = params["application_password"]
    return db_roles.ClinicDatabaseRoles(postgresql_driver.login_keywords(params), params["login_password"],
                                        params["database"], names, passwords, params["maintenance_database"],
                                        params["update_password"])


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if postgresql_driver.PSYCOPG2_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=postgresql_driver.PSYCOPG2_IMPORT_ERROR)
    try:
        roles = clinic_roles(module.params)
        result = db_roles.ensure(roles, module.check_mode)
    except db_roles.DbRolesError as exc:
        module.fail_json(msg=str(exc))
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(roles=roles.names, **result)


if __name__ == "__main__":
    main()
