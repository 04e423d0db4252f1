#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: db_maintenance
short_description: Routine upkeep of a clinic's PostgreSQL database or Redis, and a MongoDB ping
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.attributes.check_full
  - medops.runbook.db_connection
  - medops.runbook.redis
description:
  - With O(engine=postgresql), checks the database answers, then optionally runs C(VACUUM ANALYZE),
    C(REINDEX DATABASE), and retention purges (rows older than N days, deleted in batches with a commit
    per batch).
  - With O(engine=postgresql) and O(drop_kept_older_than_days), drops the databases that a
    M(medops.runbook.db_backup) O(medops.runbook.db_backup#module:restore_mode=replace) restore kept
    instead of dropping (C(<database>_kept_<YYYYMMDDHHMMSS>)) once they are older than that.
  - With O(engine=redis), checks Redis answers, then optionally removes stale session keys found with
    C(SCAN) by pattern (never C(KEYS), never C(FLUSHDB)).
  - With O(engine=mongodb), pings MongoDB and reports its version (O(login_user) authenticates against
    O(database), else C(admin)); nothing else.
  - PostgreSQL and MongoDB are reached with the C(login_*) options, Redis with the C(redis_*) options (action
    groups C(medops.runbook.postgresql) and C(medops.runbook.redis) take them as C(module_defaults)).
  - With no operation asked, it is a reachability check that reports the server version.
  - In check mode nothing runs that changes data; purges and session cleanups report how many rows or
    keys they would remove.
author:
  - medops.runbook contributors (@medops-runbook)
requirements:
  - psycopg2 (for O(engine=postgresql))
  - pymongo (for O(engine=mongodb))
options:
  engine:
    description: Which datastore.
    type: str
    choices: [postgresql, redis, mongodb]
    default: postgresql
  database:
    description: PostgreSQL database (required with O(engine=postgresql)), or the MongoDB database the user authenticates against.
    type: str
  vacuum:
    description:
      - Run C(VACUUM ANALYZE). Which tables it covers is O(vacuum_scope)'s choice.
    type: bool
    default: false
  vacuum_scope:
    description:
      - V(needed) vacuums only the tables that need it, those with dead rows or with rows changed
        since their last C(ANALYZE) (the server's statistics), plus the tables a purge of this run
        deleted from. A database with nothing to vacuum reports no change, so a repeated window is
        idempotent.
      - V(all) vacuums the whole database every time (and always reports a change).
    type: str
    choices: [needed, all]
    default: needed
  reindex:
    description: Run C(REINDEX DATABASE) (takes locks; run it in a maintenance window).
    type: bool
    default: false
  purge:
    description: Retention rules; each deletes the rows of O(purge[].table) whose O(purge[].column) is older than O(purge[].older_than_days).
    type: list
    elements: dict
    default: []
    suboptions:
      table:
        description: Table name, optionally C(schema.table).
        type: str
        required: true
      column:
        description: A date or timestamp column.
        type: str
        required: true
      older_than_days:
        description: Rows older than this many days are deleted.
        type: int
        required: true
      batch_size:
        description: Rows deleted per transaction.
        type: int
        default: 1000
  drop_kept_older_than_days:
    description:
      - Drop the databases kept by a restore of O(database) (M(medops.runbook.db_backup) with
        O(medops.runbook.db_backup#module:restore_mode=replace)) that were set aside more than this many days
        ago. Only databases whose name is O(database)'s kept name and whose C(COMMENT ON DATABASE) is the label
        the restore wrote count (their age is the label's time), so a database made by a person is never
        dropped. Younger ones are listed and kept. Dropping needs the kept database's owner (the owner of
        O(database) at the restore) or a superuser.
      - In check mode the ones that would be dropped are listed and nothing is dropped.
      - Omitted, kept databases are neither listed nor dropped.
    type: float
  session_pattern:
    description: With O(engine=redis), a C(SCAN) pattern of session keys, for example C(sess:*). A bare C(*) is refused.
    type: str
  session_idle_seconds:
    description: Session keys idle for at least this many seconds are removed.
    type: int
    default: 86400
  scan_count:
    description: C(SCAN) COUNT hint and deletion batch size.
    type: int
    default: 500
"""

EXAMPLES = r"""
- name: Purge audit records past their retention, then vacuum
  medops.runbook.db_maintenance:
    login_host: db.kin.example.org
    login_user: kin_app
    login_password: "{{ vault_kin_db_password }}"
    database: clinic_kin
    vacuum: true
    purge:
      - table: audit_log
        column: created_at
        older_than_days: 2555

- name: Remove sessions idle for a week
  medops.runbook.db_maintenance:
    engine: redis
    redis_host: 127.0.0.1
    redis_password: "{{ vault_kin_redis_password }}"
    session_pattern: "sess:*"
    session_idle_seconds: 604800
"""

RETURN = r"""
server_version:
  description: Version the server reports.
  returned: success
  type: str
  sample: "15.20"
vacuum_seconds:
  description: How long C(VACUUM ANALYZE) took.
  returned: when vacuum ran
  type: float
vacuumed:
  description:
    - The tables (C(schema.table)) vacuumed, or in check mode the ones that would be; C([]) when none
      needed it. With O(vacuum_scope=all) it is C(["*"]), the whole database.
  returned: when vacuum is true
  type: list
  elements: str
  sample: ["public.audit_log"]
reindex_seconds:
  description: How long C(REINDEX) took.
  returned: when reindex ran
  type: float
purged:
  description:
    - One entry per retention rule, with C(matching) (rows older than the cutoff when it started),
      C(deleted), C(batches) (rows per batch) and C(cutoff).
  returned: with engine postgresql
  type: list
  elements: dict
kept_databases:
  description:
    - With O(drop_kept_older_than_days), every kept database of O(database), oldest first, with C(name),
      C(kept_at), C(age_days), C(clinic), C(backup) and C(action) (C(dropped), C(would_drop) in check mode, or
      C(kept)).
  returned: when drop_kept_older_than_days is given
  type: list
  elements: dict
  sample: [{"name": "clinic_kin_kept_20261101020304", "age_days": 21.3, "action": "dropped"}]
sessions:
  description: Session cleanup counts, C(scanned), C(stale) and C(deleted).
  returned: when session_pattern is given
  type: dict
elapsed:
  description: Seconds the module ran.
  returned: always
  type: float
"""

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.medops.runbook.plugins.module_utils import maintenance_mongodb as mongo
from ansible_collections.medops.runbook.plugins.module_utils import maintenance_postgresql as pg
from ansible_collections.medops.runbook.plugins.module_utils import maintenance_redis as rds
from ansible_collections.medops.runbook.plugins.module_utils import postgresql_driver
from ansible_collections.medops.runbook.plugins.module_utils import redis_connect


def validate(module):
    p = module.params
    for problem in postgresql_driver.login_problems(p):
        module.fail_json(msg=problem)
    if p["engine"] == "postgresql" and not p["database"]:
        module.fail_json(msg="database is required with engine=postgresql")
    for rule in p["purge"]:
        if rule["older_than_days"] < 1:
            module.fail_json(msg="purge: older_than_days must be at least 1 for %s (got %d)"
                             % (rule["table"], rule["older_than_days"]))
        if rule["batch_size"] < 1:
            module.fail_json(msg="purge: batch_size must be at least 1 for %s" % rule["table"])
    if p["engine"] != "postgresql" and (p["vacuum"] or p["reindex"] or p["purge"] or p["drop_kept_older_than_days"] is not None):
        module.fail_json(msg="vacuum, reindex, purge and drop_kept_older_than_days apply to engine=postgresql only")
    if p["drop_kept_older_than_days"] is not None and p["drop_kept_older_than_days"] < 0:
        module.fail_json(msg="drop_kept_older_than_days must be 0 or more, got %s" % p["drop_kept_older_than_days"])
    if p["engine"] != "redis" and p["session_pattern"]:
        module.fail_json(msg="session_pattern applies to engine=redis only")
    if p["session_idle_seconds"] < 1 or p["scan_count"] < 1:
        module.fail_json(msg="session_idle_seconds and scan_count must be at least 1")


def run_postgresql(module, result):
    p = module.params
    if postgresql_driver.PSYCOPG2_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=postgresql_driver.PSYCOPG2_IMPORT_ERROR)
    db = pg.PostgresMaintenance(p["login_host"], p["login_port"], p["login_user"], p["login_password"], p["database"],
                                p["connect_timeout"])
    try:
        db.connect()
        result["server_version"] = db.server_version()
        result["purged"] = []
        for rule in p["purge"]:
            purged = db.purge(rule["table"], rule["column"], rule["older_than_days"], rule["batch_size"], module.check_mode)
            result["purged"].append(purged)
            result["changed"] = result["changed"] or purged["matching"] > 0
        if p["vacuum"]:
            run_vacuum(module, db, result)
        if p["reindex"]:
            result["changed"] = True
            if not module.check_mode:
                result["reindex_seconds"] = db.reindex()
        if p["drop_kept_older_than_days"] is not None:
            drop_kept(module, db, result)
    except pg.MaintenanceError as exc:
        module.fail_json(msg=str(exc), **result)
    finally:
        db.close()


def run_vacuum(module, db, result):
    """VACUUM ANALYZE the whole database, or (the default) only the tables that need it."""
    if module.params["vacuum_scope"] == "all":
        result.update(changed=True, vacuumed=["*"])
        if not module.check_mode:
            result["vacuum_seconds"] = db.vacuum()
        return
    purged = [db.qualified_name(rule["table"]) for rule in result["purged"] if rule["matching"] > 0]
    tables = sorted(set(db.tables_needing_vacuum()) | set(purged))
    result["vacuumed"] = ["%s.%s" % table for table in tables]
    if tables:
        result["changed"] = True
        if not module.check_mode:
            result["vacuum_seconds"] = db.vacuum_tables(tables)


def drop_kept(module, db, result):
    """Drop the kept databases past their age; check mode only lists them."""
    result["kept_databases"] = []
    for entry in db.kept_databases():
        old = entry["age_days"] > module.params["drop_kept_older_than_days"]
        entry["action"] = ("would_drop" if module.check_mode else "dropped") if old else "kept"
        result["kept_databases"].append(entry)
        if old:
            result["changed"] = True
            if not module.check_mode:
                db.drop_database(entry["name"])


def run_redis(module, result):
    p = module.params
    if redis_connect.REDIS_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("redis"), exception=redis_connect.REDIS_IMPORT_ERROR)
    try:
        client = redis_connect.connect(p)
        result["server_version"] = client.info("server").get("redis_version")
        if p["session_pattern"]:
            sessions = rds.clean_sessions(client, p["session_pattern"], p["session_idle_seconds"], p["scan_count"], module.check_mode)
            result["sessions"] = sessions
            result["changed"] = sessions["stale"] > 0
    except (redis_connect.RedisConnectError, rds.RedisMaintenanceError) as exc:
        module.fail_json(msg=str(exc), **result)


def run_mongodb(module, result):
    p = module.params
    if mongo.PYMONGO_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("pymongo"), exception=mongo.PYMONGO_IMPORT_ERROR)
    kwargs = mongo.client_kwargs(p["login_host"] or mongo.DEFAULT_HOST, p["login_port"], p["login_user"], p["login_password"], p["database"],
                                 p["connect_timeout"])
    try:
        result.update(mongo.ping(kwargs))
    except mongo.MongoMaintenanceError as exc:
        module.fail_json(msg=str(exc), **result)


RUNNERS = {"postgresql": run_postgresql, "redis": run_redis, "mongodb": run_mongodb}


def argument_spec():
    spec = dict(
        engine=dict(type="str", choices=list(RUNNERS), default="postgresql"),
        database=dict(type="str"),
        vacuum=dict(type="bool", default=False),
        vacuum_scope=dict(type="str", choices=["needed", "all"], default="needed"),
        reindex=dict(type="bool", default=False),
        purge=dict(type="list", elements="dict", default=[], options=dict(
            table=dict(type="str", required=True),
            column=dict(type="str", required=True),
            older_than_days=dict(type="int", required=True),
            batch_size=dict(type="int", default=1000),
        )),
        drop_kept_older_than_days=dict(type="float"),
        session_pattern=dict(type="str"),
        session_idle_seconds=dict(type="int", default=86400),
        scan_count=dict(type="int", default=500),
    )
    spec.update(postgresql_driver.postgresql_argument_spec())
    spec.update(redis_connect.redis_argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    validate(module)
    started = time.monotonic()
    result = dict(changed=False)
    RUNNERS[module.params["engine"]](module, result)
    result["elapsed"] = round(time.monotonic() - started, 3)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
