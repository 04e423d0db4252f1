# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engines db_backup offers, by the value of its ``engine`` option.

An engine is a ``backup_engine.BackupEngine`` subclass in a file of its own. It is imported here by
name (not looked up at run time) because Ansible ships a module with the module_utils its imports
name, and no others.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.medops.runbook.plugins.module_utils.backup_mongodb import MongodbEngine
from ansible_collections.medops.runbook.plugins.module_utils.backup_postgresql import PostgresqlEngine
from ansible_collections.medops.runbook.plugins.module_utils.backup_redis import RedisEngine

ENGINES = dict((engine.name, engine) for engine in (
    PostgresqlEngine,
    MongodbEngine,
    RedisEngine,
))
