#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: db_backup
short_description: Dump, verify, restore and prune PostgreSQL, MongoDB and Redis backups you can trust
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.db_connection
  - medops.runbook.db_connection.maintenance_database
  - medops.runbook.redis
description:
  - O(state=dumped) writes a new backup into O(dest) under a temporary hidden name, fsyncs it and renames
    it, so no half-written file ever carries a final name; files are mode 0600, a directory it creates 0700.
    A JSON manifest beside the backup records engine, server and tool versions, database, clinic, start and
    end, bytes, sha256 and per-table row counts.
  - For PostgreSQL the row counts are taken inside the very snapshot that pg_dump dumps (an exported
    REPEATABLE READ snapshot handed to C(pg_dump --snapshot)), so they equal the archive's content even
    while the application writes.
  - O(state=verified) recomputes the checksum, reads the archive (C(pg_restore --list), C(redis-check-rdb),
    C(mongorestore --dryRun)) and with O(restore_check=true) restores into a scratch database whose row
    counts must equal the manifest's; the scratch database is always dropped. A pass is recorded beside
    the backup (C(.verified.json)).
  - O(state=restored) restores into O(target_database) (C(--clean --if-exists) in one transaction into an
    existing database, or into a new one). It refuses a backup whose checksum fails, or whose manifest
    names another clinic or database unless O(force=true).
  - O(state=pruned) removes backups outside O(keep_last) and O(max_age_days), never the newest verified one.
  - Every run first removes partial files left in O(dest) by an interrupted earlier run (reported as
    RV(leftovers_removed)).
  - Passwords reach the client tools only through their environment (PGPASSWORD) or a 0600 config file
    (MongoDB), never the command line; tools run from argument lists, never through a shell.
  - O(state=dumped) always writes a new backup, so it always reports a change.
  - PostgreSQL and MongoDB are reached with the C(login_*) options (or O(uri)); Redis with the C(redis_*) options,
    TLS included, like every module of this collection that talks to Redis. Action groups
    C(medops.runbook.postgresql) and C(medops.runbook.redis) take them as C(module_defaults).
author:
  - medops.runbook contributors (@medops-runbook)
requirements:
  - psycopg2 and the PostgreSQL client tools (pg_dump, pg_restore) for O(engine=postgresql)
  - the module runs on the Redis host for O(engine=redis) (it copies the RDB file); redis-check-rdb for its verification
  - mongodump and mongorestore for O(engine=mongodb); mongosh for O(restore_check) with MongoDB
attributes:
  check_mode:
    support: full
    details: Reports the file it would write and the command (without secrets) or what it would remove; runs nothing.
  diff_mode:
    support: none
options:
  engine:
    description: Which datastore (the backup engine).
    type: str
    choices: [postgresql, mongodb, redis]
    default: postgresql
  database:
    description: Database to back up; for O(state=restored) the database the backup must be of (see O(force)).
    type: str
  uri:
    description:
      - Connection URI of PostgreSQL (C(postgresql://...)) or MongoDB (C(mongodb://...)). Explicit C(login_*)
        options and O(database) override its parts. A password in it is treated like O(login_password).
      - Refused with O(engine=redis), whose URL is O(redis_url).
    type: str
  bin_dir:
    description:
      - Directory holding the client tools (pg_dump, pg_restore, mongodump, ...). Default for PostgreSQL is the
        newest C(/usr/lib/postgresql/*/bin), then PATH; for MongoDB, PATH. pg_dump must be at least the server's
        major version (the module checks and says so).
    type: path
  state:
    description: What to do.
    type: str
    choices: [dumped, verified, restored, pruned]
    default: dumped
  dest:
    description:
      - The backup directory. Required for O(state=dumped) and O(state=pruned), and for the other states
        when O(backup) is not given (the newest backup in O(dest) is used).
    type: path
  backup:
    description: One backup (file or directory) to verify or restore. Default is the newest complete backup in O(dest).
    type: path
  clinic:
    description:
      - Clinic label recorded in the manifest. With O(state=restored) a manifest naming another clinic is refused
        unless O(force=true); with O(state=pruned) and when picking the newest backup, only this clinic's backups count.
    type: str
  format:
    description: PostgreSQL archive format (C(custom) is one file, C(directory) allows parallel dumps).
    type: str
    choices: [custom, directory]
    default: custom
  jobs:
    description: Parallel jobs for pg_dump (O(format=directory) only) and pg_restore.
    type: int
    default: 1
  compression:
    description: pg_dump compression. C(lz4) and C(zstd) need pg_dump 16 or newer; the module fails clearly otherwise.
    type: str
    choices: [gzip, lz4, zstd, none]
    default: gzip
  compression_level:
    description: Compression level (gzip 1-9, lz4 1-12, zstd 1-22). Default is the tool's.
    type: int
  dump_extra_args:
    description: Extra pg_dump or mongodump arguments, one list item per argument (no shell, no quoting needed).
    type: list
    elements: str
    default: []
  restore_check:
    description: With O(state=verified), also restore into a scratch database and compare row counts with the manifest.
    type: bool
    default: false
  scratch_database:
    description: Name of the scratch database for O(restore_check). Default is a fresh random name. Never an existing one.
    type: str
  target_database:
    description: Database to restore into (O(state=restored)). Default is O(database).
    type: str
  no_owner:
    description: With O(state=restored), do not restore ownership and privileges (for a different role than the dump's).
    type: bool
    default: false
  restore_mode:
    description:
      - How O(state=restored) treats an existing PostgreSQL target database.
      - V(clean) restores into it with C(pg_restore --clean --if-exists) in one transaction. Objects the backup
        does not hold stay, so a restore fails when such an object depends on one it must drop (for example a
        table a later migration added with a foreign key to a restored table); the database is then unchanged.
      - V(replace) restores into a new staging database, checks its row counts against the manifest, and only
        then swaps it in under the target's name. The result is exactly the backup, whatever was added since; a
        failed restore leaves the target untouched. Open connections to the target are closed at the swap. Needs
        a role allowed to create databases and to rename the target (its owner with CREATEDB, or a superuser).
        Database-level settings (C(ALTER DATABASE ... SET)) of the old database are not carried over.
      - V(replace) never drops the database it replaces, which holds every row written after the backup. It is
        renamed C(<target>_kept_<YYYYMMDDHHMMSS>) (UTC; the target's name is shortened so the whole name fits
        PostgreSQL's 63 bytes, C(_2) to C(_9) are added when that name exists), labelled with a
        C(COMMENT ON DATABASE) (database, time, clinic, backup) and left open for reading (RV(database_kept)).
        RV(rows_since_backup) says, per table, how many rows it holds that the backup does not.
        M(medops.runbook.db_maintenance) with O(medops.runbook.db_maintenance#module:drop_kept_older_than_days)
        drops kept databases once they are old. Keeping is not optional; drop a kept database by hand once its
        rows are recovered or known to be unneeded.
      - Before anything changes, V(replace) checks that the server has room for the restored copy beside the
        kept one (O(free_space_check)).
    type: str
    choices: [clean, replace]
    default: clean
  free_space_check:
    description:
      - With O(restore_mode=replace), whether to refuse a restore the database server's disk cannot hold; the
        restored copy is written beside the database it replaces, which is kept (two copies at once).
      - The copy needs about the database's size when it was backed up (the manifest's C(database_bytes), else the
        target's size now), plus O(restore_min_free_bytes).
      - Free space is O(restore_free_bytes) when given. Otherwise PostgreSQL cannot tell a client its free disk
        space, so the module measures it itself (C(statvfs) of C(<data_directory>/base), where the copy goes) only
        when the server is on the host the module runs on (a Unix socket, C(localhost), C(127.0.0.1) or C(::1))
        and the login role may read C(data_directory) (superuser or C(pg_read_all_settings)). A server reached
        through a tunnel or port forward on loopback would be measured wrongly; pass O(restore_free_bytes) then.
      - V(auto) refuses when the space is measured and short, and goes ahead (reporting why in RV(free_space))
        when it cannot be measured. V(required) also refuses when it cannot be measured. V(off) does not check.
    type: str
    choices: [auto, required, "off"]
    default: auto
  restore_free_bytes:
    description:
      - Free bytes on the database server's data filesystem, measured by the caller (for example C(df -B1
        --output=avail) of the data directory, delegated to the database host), for O(free_space_check).
    type: int
  restore_min_free_bytes:
    description:
      - Bytes that must stay free on the database server after the restored copy is written (WAL, the
        application's growth), for O(free_space_check).
    type: int
    default: 268435456
  force:
    description: Restore even when the manifest names another clinic or database.
    type: bool
    default: false
  keep_last:
    description: With O(state=pruned), keep this many newest backups.
    type: int
  max_age_days:
    description: With O(state=pruned), keep backups younger than this many days.
    type: float
  redis_rdb_path:
    description: Path of Redis' RDB file when C(CONFIG GET dir/dbfilename) is unavailable.
    type: path
  redis_save_timeout:
    description: Seconds to wait for BGSAVE to complete.
    type: int
    default: 300
  mongo_auth_database:
    description: MongoDB authentication database.
    type: str
    default: admin
"""

EXAMPLES = r"""
- name: Pre-deploy backup (no backup, no deploy)
  medops.runbook.db_backup:
    engine: postgresql
    state: dumped
    dest: /var/backups/clinic
    login_host: db.internal
    login_user: clinic_app
    login_password: "{{ vault_clinic_db_password }}"
    database: clinic_kin
    clinic: kin
  register: backup

- name: Prove it restores with the same row counts
  medops.runbook.db_backup:
    state: verified
    backup: "{{ backup.backup }}"
    restore_check: true
    login_host: db.internal
    login_user: postgres
    login_password: "{{ vault_pg_admin_password }}"
    database: clinic_kin

- name: Parallel directory dump with zstd (pg_dump 16+)
  medops.runbook.db_backup:
    dest: /var/backups/clinic
    uri: "postgresql://backup@db.internal/clinic_kin?sslmode=verify-full"
    login_password: "{{ vault_backup_password }}"
    format: directory
    jobs: 4
    compression: zstd
    compression_level: 5

- name: Redis snapshot, over TLS
  medops.runbook.db_backup:
    engine: redis
    dest: /var/backups/redis
    redis_port: 6380
    redis_tls: true
    redis_ca_path: /etc/ssl/clinic-ca.pem
    redis_password: "{{ vault_redis_password }}"

- name: Keep a week, at least 3, and always the newest verified one
  medops.runbook.db_backup:
    state: pruned
    dest: /var/backups/clinic
    clinic: kin
    keep_last: 3
    max_age_days: 7
"""

RETURN = r"""
backup:
  description: Path of the backup written (dumped; in check mode the path it would write), verified or restored.
  returned: when a backup is concerned
  type: str
manifest:
  description: The backup's manifest (engine, versions, database, clinic, times, bytes, sha256, per-table counts, C(database_bytes)).
  returned: dumped, verified, restored
  type: dict
command:
  description: The dump or restore command, without secrets (check mode shows what would run).
  returned: dumped, restored
  type: list
  elements: str
checks:
  description: Each verification check with C(name), C(ok) and C(detail); the restore check adds per-table C(tables).
  returned: verified, restored
  type: list
  elements: dict
verified:
  description: Whether every check passed.
  returned: verified
  type: bool
tables:
  description: Per table (C(schema.table)) the manifest's row count, the restored count and whether they are equal.
  returned: verified with O(restore_check=true)
  type: dict
verification:
  description: The verification record written beside the backup when every check passed.
  returned: verified
  type: dict
created_dest:
  description: Whether O(dest) was created (mode 0700).
  returned: dumped
  type: bool
target_database:
  description: The database restored into.
  returned: restored
  type: str
created_database:
  description: Whether the target database was created (otherwise it was cleaned and restored over).
  returned: restored (PostgreSQL)
  type: bool
replaced_database:
  description: Whether O(restore_mode=replace) swapped a restored copy in for an existing database.
  returned: restored with O(restore_mode=replace) into an existing database
  type: bool
database_kept:
  description:
    - The database that O(restore_mode=replace) replaced, set aside under this name (never dropped); it holds
      every row written after the backup.
  returned: restored with O(restore_mode=replace) into an existing database
  type: str
  sample: clinic_kin_kept_20261122031500
kept_at:
  description: When the replaced database was set aside (UTC, ISO 8601); also in its C(COMMENT ON DATABASE).
  returned: restored with O(restore_mode=replace) into an existing database
  type: str
rows_since_backup:
  description:
    - Per table (C(schema.table)), rows in RV(database_kept) minus rows in the backup's manifest, for the tables
      where they differ only (C({}) when none). A positive number is that many rows the restored database does not
      have. A table only in the kept database shows all its rows, one only in the backup minus its rows.
    - Counts, not row identities; rows updated since the backup do not show, and five rows inserted and five
      deleted show as no difference.
  returned: restored with O(restore_mode=replace) into an existing database
  type: dict
  sample: {"public.patients": 12}
free_space:
  description:
    - The free-space check of O(restore_mode=replace), C(checked), C(copy_bytes), C(copy_estimate),
      C(needed_bytes), C(free_bytes) (null when it could not be measured) and C(measured_by) (how, or why not).
  returned: restored with O(restore_mode=replace) into an existing database
  type: dict
identity_overridden:
  description: Clinic or database mismatches that O(force=true) overrode (empty when none).
  returned: restored
  type: list
  elements: str
removed:
  description: Backups removed (or that would be, in check mode), with age and bytes.
  returned: pruned
  type: list
  elements: dict
kept:
  description: Backups kept, with the reason.
  returned: pruned
  type: list
  elements: dict
leftovers_removed:
  description: Partial files of interrupted earlier runs removed from O(dest) (check mode lists them only).
  returned: always
  type: list
  elements: dict
elapsed:
  description: Seconds the module took.
  returned: always
  type: float
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medops.runbook.plugins.module_utils import backup_states
from ansible_collections.medops.runbook.plugins.module_utils.backup_registry import ENGINES
from ansible_collections.medops.runbook.plugins.module_utils.postgresql_driver import postgresql_argument_spec
from ansible_collections.medops.runbook.plugins.module_utils.redis_connect import redis_argument_spec


def argument_spec():
    spec = dict(
        engine=dict(type="str", default="postgresql", choices=list(ENGINES)),
        state=dict(type="str", default="dumped", choices=backup_states.STATES),
        dest=dict(type="path"),
        backup=dict(type="path"),
        clinic=dict(type="str"),
        database=dict(type="str"),
        uri=dict(type="str", no_log=True),
        bin_dir=dict(type="path"),
        format=dict(type="str", default="custom", choices=["custom", "directory"]),
        jobs=dict(type="int", default=1),
        compression=dict(type="str", default="gzip", choices=["gzip", "lz4", "zstd", "none"]),
        compression_level=dict(type="int"),
        dump_extra_args=dict(type="list", elements="str", default=[]),
        restore_check=dict(type="bool", default=False),
        scratch_database=dict(type="str"),
        target_database=dict(type="str"),
        no_owner=dict(type="bool", default=False),
        restore_mode=dict(type="str", choices=["clean", "replace"], default="clean"),
        free_space_check=dict(type="str", choices=["auto", "required", "off"], default="auto"),
        restore_free_bytes=dict(type="int"),
        restore_min_free_bytes=dict(type="int", default=268435456),
        force=dict(type="bool", default=False),
        keep_last=dict(type="int"),
        max_age_days=dict(type="float"),
        redis_rdb_path=dict(type="path"),
        redis_save_timeout=dict(type="int", default=300),
        mongo_auth_database=dict(type="str", default="admin"),
    )
    spec.update(postgresql_argument_spec(maintenance_database=True))
    spec.update(redis_argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    backup_states.run(module)


if __name__ == "__main__":
    main()
