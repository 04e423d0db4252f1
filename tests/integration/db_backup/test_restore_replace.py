"""restore_mode=replace: the database comes back exactly as backed up, even after a migration
added objects that depend on restored ones (what a deploy rollback needs)."""

from __future__ import annotations

from harness.ansible import run_module
from harness.pgdata import content, pg_args, seed


def _migrate(pg_server, db):
    """What a release's migration does: a new table with a foreign key to a backed-up one, new rows."""
    pg_server.execute(
        "CREATE TABLE appointments (id serial PRIMARY KEY, patient_id int NOT NULL REFERENCES patients(id));"
        "INSERT INTO appointments (patient_id) SELECT id FROM patients LIMIT 10;"
        "INSERT INTO patients (name) VALUES ('added after the backup');", dbname=db)


def test_clean_restore_fails_on_a_dependent_object_and_changes_nothing(pg_server, pg_database, tmp_path):
    seed(pg_server, pg_database, rows=200)
    dumped = run_module("db_backup", pg_args(pg_server, pg_database, tmp_path, state="dumped"))
    _migrate(pg_server, pg_database)
    migrated = content(pg_server, pg_database)
    result = run_module("db_backup", pg_args(pg_server, pg_database, state="restored", backup=dumped["backup"]))
    assert result["failed"] and "pg_restore" in result["msg"] and "unchanged" in result["msg"], result["msg"]
    assert content(pg_server, pg_database) == migrated


def test_replace_brings_back_exactly_the_backup(pg_server, pg_database, tmp_path):
    seed(pg_server, pg_database, rows=200)
    before = content(pg_server, pg_database)
    dumped = run_module("db_backup", pg_args(pg_server, pg_database, tmp_path, state="dumped"))
    _migrate(pg_server, pg_database)
    result = run_module("db_backup", pg_args(pg_server, pg_database, state="restored", backup=dumped["backup"],
                                             restore_mode="replace"))
    assert result["changed"] and result["replaced_database"] is True, result.get("msg")
    assert content(pg_server, pg_database) == before
    leftovers = pg_server.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (pg_database[:40] + "_re%",))
    assert leftovers == []


def test_replace_with_a_damaged_copy_leaves_the_target_alone(pg_server, pg_database, tmp_path):
    seed(pg_server, pg_database, rows=200)
    dumped = run_module("db_backup", pg_args(pg_server, pg_database, tmp_path, state="dumped"))
    _migrate(pg_server, pg_database)
    migrated = content(pg_server, pg_database)
    manifest_path = dumped["backup"] + ".manifest.json"
    import json

    manifest = json.loads(open(manifest_path).read())
    manifest["tables"]["public.patients"] += 5  # the copy will not match: the swap must not happen
    open(manifest_path, "w").write(json.dumps(manifest))
    result = run_module("db_backup", pg_args(pg_server, pg_database, state="restored", backup=dumped["backup"],
                                             restore_mode="replace"))
    assert result["failed"] and "is unchanged" in result["msg"], result.get("msg")
    assert content(pg_server, pg_database) == migrated
    assert pg_server.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (pg_database[:40] + "_re%",)) == []
