# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options of modules that talk to PostgreSQL, MongoDB or Redis through their client tools.
    DOCUMENTATION = r"""
options:
  login_host:
    description:
      - Database server host. Without it (and without O(uri)) PostgreSQL tools use their default (the local socket);
        Redis and MongoDB use C(127.0.0.1).
    type: str
  login_port:
    description: Server port (default 5432, 27017 or 6379 by engine).
    type: int
  login_user:
    description: Role or user to connect as (Redis ACL user for Redis).
    type: str
  login_password:
    description:
      - Password. Handed to client tools through their environment (PGPASSWORD) or a 0600 temporary config file,
        never on a command line; never logged or returned.
    type: str
  database:
    description: Database to back up; for O(state=restored) the database the backup must be of (see O(force)).
    type: str
  uri:
    description:
      - Connection URI (C(postgresql://...), C(mongodb://...), C(redis://...)). Explicit C(login_*) options and
        O(database) override its parts. A password in it is treated like O(login_password).
    type: str
  maintenance_database:
    description: PostgreSQL database to connect to for creating and dropping databases.
    type: str
    default: postgres
  connect_timeout:
    description: Seconds to wait for a connection.
    type: int
    default: 10
  bin_dir:
    description:
      - Directory holding the client tools (pg_dump, pg_restore, mongodump, ...). Default for PostgreSQL is the
        newest C(/usr/lib/postgresql/*/bin), then PATH; for MongoDB, PATH. pg_dump must be at least the server's
        major version (the module checks and says so).
    type: path
"""

    # PostgreSQL connection of modules that talk to the server with psycopg2 only
    # (plugins/module_utils/postgresql_driver.py holds the matching argument spec):
    #   extends_documentation_fragment: [medops.runbook.db_connection.postgresql]
    POSTGRESQL = r"""
options:
  login_host:
    description: PostgreSQL host (or Unix socket directory). Without it libpq's default, the local socket.
    type: str
  login_port:
    description: PostgreSQL port (libpq's default 5432 when omitted).
    type: int
  login_user:
    description: Role to connect as.
    type: str
  login_password:
    description: Its password. Passed to the driver as a keyword only; never logged or returned.
    type: str
  maintenance_database:
    description: Database to connect to for work on roles and databases (creating, granting).
    type: str
    default: postgres
  connect_timeout:
    description: Seconds to wait for a connection.
    type: int
    default: 10
"""
