# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MongoDB for db_maintenance: the ping (seed 001's "is MongoDB up"), with pymongo."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

PYMONGO_IMPORT_ERROR = None
try:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError
except ImportError:
    PYMONGO_IMPORT_ERROR = traceback.format_exc()
    MongoClient = None
    PyMongoError = Exception

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 27017


class MongoMaintenanceError(Exception):
    """MongoDB did not answer; the message says why (never with a password)."""


def client_kwargs(host, port, user, password, database, timeout):
    """Keyword arguments of ``MongoClient``: the password goes to the driver, never into a URI."""
    kwargs = dict(host=host, port=port or DEFAULT_PORT, serverSelectionTimeoutMS=int(timeout * 1000),
                  connectTimeoutMS=int(timeout * 1000))
    if user:
        kwargs.update(username=user, password=password, authSource=database or "admin")
    return kwargs


def ping(kwargs, client_class=None):
    """Ping the server and read its version: ``{"server_version": ...}``."""
    client_class = client_class or MongoClient
    client = None
    try:
        client = client_class(**kwargs)
        client.admin.command("ping")
        return {"server_version": client.server_info().get("version")}
    except PyMongoError as exc:
        raise MongoMaintenanceError("MongoDB at %s:%s did not answer: %s"
                                    % (kwargs["host"], kwargs["port"], str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
    finally:
        if client is not None:
            client.close()
