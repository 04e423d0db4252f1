# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The login options of every module that logs in to PostgreSQL (and, where a module also speaks
    # MongoDB, to MongoDB); postgresql_driver.postgresql_argument_spec() is the matching spec, and
    # the action group medops.runbook.postgresql takes them as module_defaults.
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Database server host, or the directory of PostgreSQL's Unix socket.
      - When omitted, PostgreSQL is reached the way libpq does by default (its local Unix socket) and MongoDB
        at C(127.0.0.1).
    type: str
  login_port:
    description: Server port. When omitted, 5432 for PostgreSQL (libpq's default) and 27017 for MongoDB.
    type: int
  login_user:
    description:
      - Role (or MongoDB user) to connect as. When omitted, PostgreSQL uses libpq's default, the name of the
        system user the module runs as; MongoDB connects without authentication.
    type: str
  login_password:
    description:
      - Its password. Handed to a driver as a keyword, or to client tools through their environment
        (PGPASSWORD) or a 0600 temporary file; never on a command line, never logged or returned.
    type: str
  connect_timeout:
    description: Seconds to wait for a connection.
    type: int
    default: 10
"""

    # For modules that create, rename or drop databases or roles from outside them:
    #   extends_documentation_fragment: [medops.runbook.db_connection, medops.runbook.db_connection.maintenance_database]
    MAINTENANCE_DATABASE = r"""
options:
  maintenance_database:
    description: PostgreSQL database to connect to for work on databases and roles (creating, dropping, renaming, granting).
    type: str
    default: postgres
"""
