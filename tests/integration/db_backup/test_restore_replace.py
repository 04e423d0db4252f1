"""restore_mode=replace: the database comes back exactly as backed up, even after a migration
added objects that depend on restored ones (what a deploy rollback needs)."""

from __future__ import annotations

import json

import pytest

from harness.ansible import run_module
from harness.pgdata import content, drop, pg_args, seed


@pytest.fixture()
def kept_dbs(pg_server, pg_database):
    """The databases a replace keeps from the test's database: listed, and dropped afterwards."""
    def names():
        rows = pg_server.execute("SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1", (pg_database[:40] + "%_kept_%",))
        return [row[0] for row in rows]
    yield names
    drop(pg_server, *names())


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


def test_replace_brings_back_exactly_the_backup_and_keeps_the_replaced_database(pg_server, pg_database, tmp_path, kept_dbs):
    seed(pg_server, pg_database, rows=200)
    before = content(pg_server, pg_database)
    dumped = run_module("db_backup", pg_args(pg_server, pg_database, tmp_path, state="dumped"))
    assert dumped["manifest"]["database_bytes"] > 0
    _migrate(pg_server, pg_database)
    migrated = content(pg_server, pg_database)
    result = run_module("db_backup", pg_args(pg_server, pg_database, state="restored", backup=dumped["backup"],
                                             restore_mode="replace"))
    assert result["changed"] and result["replaced_database"] is True, result.get("msg")
    assert content(pg_server, pg_database) == before
    leftovers = pg_server.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (pg_database[:40] + "_re%",))
    assert leftovers == []
    # The replaced database is kept (never dropped), named for what it is and when, and labelled.
    kept = result["database_kept"]
    assert kept_dbs() == [kept] and kept.startswith(pg_database[:41] + "_kept_") and len(kept.encode()) <= 63
    assert content(pg_server, kept) == migrated, "the kept database is the database as it was before the restore"
    assert result["rows_since_backup"] == {"public.appointments": 10, "public.patients": 1}
    assert f"kept as '{kept}'" in result["msg"] and "public.patients +1" in result["msg"]
    comment = pg_server.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (kept,))[0][0]
    label = json.loads(comment.split(" ", 3)[3])
    assert label["kept_from"] == pg_database and label["clinic"] == "kin" and label["kept_at"] == result["kept_at"]
    assert result["free_space"]["checked"] is True and result["free_space"]["free_bytes"] > result["free_space"]["needed_bytes"]


def test_replace_refuses_when_the_disk_cannot_hold_both_copies(pg_server, pg_database, tmp_path, kept_dbs):
    seed(pg_server, pg_database, rows=200)
    dumped = run_module("db_backup", pg_args(pg_server, pg_database, tmp_path, state="dumped"))
    _migrate(pg_server, pg_database)
    migrated = content(pg_server, pg_database)
    databases = pg_server.execute("SELECT datname FROM pg_database ORDER BY 1")
    # Measured here (statvfs of the server's data directory): no real disk has an exabyte free.
    measured = run_module("db_backup", pg_args(pg_server, pg_database, state="restored", backup=dumped["backup"],
                                               restore_mode="replace", restore_min_free_bytes=10 ** 18))
    assert measured["failed"] and "Traceback" not in measured["msg"]
    assert measured["msg"].startswith(f"refusing to restore into '{pg_database}': the database server has ")
    assert "statvfs of " in measured["msg"] and "Nothing was changed" in measured["msg"], measured["msg"]
    # Measured by the caller (e.g. df on the database host), and too little.
    told = run_module("db_backup", pg_args(pg_server, pg_database, state="restored", backup=dumped["backup"],
                                           restore_mode="replace", restore_free_bytes=1000, restore_min_free_bytes=0))
    assert told["failed"] and "restore_free_bytes (measured by the caller)" in told["msg"], told["msg"]
    # Cannot be measured (a role that may not read data_directory) and required: refused too.
    pg_server.execute("DROP ROLE IF EXISTS kept_refusal; CREATE ROLE kept_refusal LOGIN CREATEDB PASSWORD 'kept-refusal-pw'")
    try:
        pg_server.execute(f'ALTER DATABASE "{pg_database}" OWNER TO kept_refusal')
        unknown = run_module("db_backup", pg_args(pg_server, pg_database, state="restored", backup=dumped["backup"],
                                                  restore_mode="replace", free_space_check="required", force=True,
                                                  login_user="kept_refusal", login_password="kept-refusal-pw"))
        assert unknown["failed"] and "cannot be measured" in unknown["msg"] and "data_directory" in unknown["msg"], unknown["msg"]
        assert "kept-refusal-pw" not in unknown["_run"].output + json.dumps({k: v for k, v in unknown.items() if k != "_run"})
    finally:
        pg_server.execute(f'ALTER DATABASE "{pg_database}" OWNER TO postgres; DROP ROLE kept_refusal')
    assert content(pg_server, pg_database) == migrated
    assert pg_server.execute("SELECT datname FROM pg_database ORDER BY 1") == databases and kept_dbs() == []


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
