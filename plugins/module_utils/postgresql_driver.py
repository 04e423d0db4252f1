# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""psycopg2 for the PostgreSQL modules: the one import guard, and the one way to open a connection.

A module checks ``PSYCOPG2_IMPORT_ERROR`` and fails with ``missing_required_lib("psycopg2")``;
module_utils take ``psycopg2`` and ``sql`` from here. ``connect`` turns a psycopg2 error into the
caller's own exception, with a message that names the database, host and port, never the password.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

PSYCOPG2_IMPORT_ERROR = None
try:
    import psycopg2
    import psycopg2.extensions
    # Not used here: the module_utils take sql from this module, with psycopg2.
    from psycopg2 import sql  # pylint: disable=unused-import
except ImportError:
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()
    psycopg2 = None
    sql = None

MASK = "********"


def scrub(text, password):
    """``text`` with every occurrence of ``password`` masked."""
    return text.replace(password, MASK) if password else text


def where(keywords):
    """'host:port' of libpq ``keywords``, as libpq resolves a missing host and port."""
    return "%s:%s" % (keywords.get("host") or "(default socket)", keywords.get("port") or 5432)


def connect(keywords, password=None, error=Exception):
    """A psycopg2 connection from libpq ``keywords`` (None values left out) and ``password``.

    The password is handed to libpq as a keyword only, never put in a conninfo string. A psycopg2
    error raises ``error`` (the caller's exception class) with the database, host and port, and
    psycopg2's reason with the password masked."""
    given = dict((key, value) for key, value in keywords.items() if value is not None)
    if password:
        given["password"] = password
    try:
        return psycopg2.connect(**given)
    except psycopg2.Error as exc:
        raise error("cannot connect to PostgreSQL database %r at %s: %s"
                    % (given.get("dbname"), where(given), scrub(str(exc).strip(), password)))


def postgresql_argument_spec(maintenance_database=False):
    """The login options of every module that logs in to PostgreSQL: doc fragment
    ``medops.runbook.db_connection``, plus its ``maintenance_database`` part for a module that
    creates or drops databases or roles from outside them."""
    spec = dict(
        login_host=dict(type="str"),
        login_port=dict(type="int"),
        login_user=dict(type="str"),
        login_password=dict(type="str", no_log=True),
        connect_timeout=dict(type="int", default=10),
    )
    if maintenance_database:
        spec["maintenance_database"] = dict(type="str", default="postgres")
    return spec


def login_problems(params):
    """What the login options' types cannot refuse, one sentence each."""
    port = params.get("login_port")
    if port is not None and not 0 < port < 65536:
        return ["login_port must be between 1 and 65535, got %d" % port]
    return []


def login_keywords(params):
    """libpq keywords (no password) from the options of ``postgresql_argument_spec``."""
    return dict(host=params.get("login_host"), port=params.get("login_port"), user=params.get("login_user"),
                connect_timeout=params.get("connect_timeout"))
