"""db_maintenance against a real PostgreSQL and a real Redis started by the tests."""

import contextlib

import pytest

from harness.ansible import run_module, run_module_cases


def _connection(pg_server, database):
    return {"login_host": "127.0.0.1", "login_port": pg_server.port, "login_user": "postgres",
            "login_password": pg_server.password, "database": database}


@pytest.fixture()
def audit_db(pg_server, pg_database):
    """audit_log with 250 rows per age bucket: 10, 89, 91, 200 and 400 days old."""
    pg_server.execute(
        "CREATE TABLE audit_log (id serial PRIMARY KEY, created_at timestamptz NOT NULL, note text)", dbname=pg_database)
    for days in (10, 89, 91, 200, 400):
        pg_server.execute(
            "INSERT INTO audit_log (created_at, note) SELECT now() - make_interval(days => %s), 'x' FROM generate_series(1, 250)",
            (days,), dbname=pg_database)
    return pg_database


def _ages(pg_server, database):
    rows = pg_server.execute(
        "SELECT extract(day FROM now() - created_at)::int AS age, count(*) FROM audit_log GROUP BY 1 ORDER BY 1",
        dbname=database)
    return dict(rows)


def test_purge_removes_exactly_the_old_rows_in_batches(pg_server, audit_db):
    assert _ages(pg_server, audit_db) == {10: 250, 89: 250, 91: 250, 200: 250, 400: 250}
    rule = {"table": "audit_log", "column": "created_at", "older_than_days": 90, "batch_size": 100}
    result = run_module("db_maintenance", dict(_connection(pg_server, audit_db), purge=[rule], vacuum=True))
    assert result["changed"] is True, result
    purged = result["purged"][0]
    assert purged["matching"] == 750 and purged["deleted"] == 750
    assert purged["batches"] == [100] * 7 + [50]
    assert "vacuum_seconds" in result
    assert _ages(pg_server, audit_db) == {10: 250, 89: 250}
    again = run_module("db_maintenance", dict(_connection(pg_server, audit_db), purge=[rule]))
    assert again["changed"] is False and again["purged"][0]["deleted"] == 0


def _write(pg_server, database, statement):
    """Run ``statement`` and make its table statistics visible to other sessions at once.

    A backend hands its counts to the server when it goes idle, at most once a second, or when it
    exits (after the client has already moved on); the forced flush happens before it answers.
    """
    with contextlib.closing(pg_server.connect(database)) as conn, conn.cursor() as cur:
        cur.execute(statement)
        cur.execute("SELECT pg_stat_force_next_flush()")


def _vacuum_counts(pg_server, database):
    return dict(pg_server.execute("SELECT relname, vacuum_count FROM pg_stat_user_tables", dbname=database))


def test_vacuum_goes_only_to_tables_that_need_it_and_a_second_run_changes_nothing(pg_server, pg_database):
    for table in ("visits", "invoices"):
        _write(pg_server, pg_database, f"CREATE TABLE {table} AS SELECT n FROM generate_series(1, 500) AS n")
    connection = _connection(pg_server, pg_database)
    first = run_module("db_maintenance", dict(connection, vacuum=True))
    assert first["changed"] is True and first["vacuumed"] == ["public.invoices", "public.visits"], first
    assert _vacuum_counts(pg_server, pg_database) == {"visits": 1, "invoices": 1}

    again = run_module("db_maintenance", dict(connection, vacuum=True))
    assert again["changed"] is False and again["vacuumed"] == [] and "vacuum_seconds" not in again, again

    _write(pg_server, pg_database, "DELETE FROM invoices WHERE n <= 100")
    preview = run_module("db_maintenance", dict(connection, vacuum=True), check=True)
    assert preview["changed"] is True and preview["vacuumed"] == ["public.invoices"]
    assert _vacuum_counts(pg_server, pg_database) == {"visits": 1, "invoices": 1}
    third = run_module("db_maintenance", dict(connection, vacuum=True))
    assert third["vacuumed"] == ["public.invoices"]
    assert _vacuum_counts(pg_server, pg_database) == {"visits": 1, "invoices": 2}

    whole = run_module("db_maintenance", dict(connection, vacuum=True, vacuum_scope="all"))
    assert whole["changed"] is True and whole["vacuumed"] == ["*"] and "vacuum_seconds" in whole
    assert _vacuum_counts(pg_server, pg_database) == {"visits": 2, "invoices": 3}


def test_a_purge_and_its_vacuum_leave_nothing_for_the_next_window(pg_server, audit_db):
    rule = {"table": "audit_log", "column": "created_at", "older_than_days": 90, "batch_size": 300}
    args = dict(_connection(pg_server, audit_db), purge=[rule], vacuum=True)
    first = run_module("db_maintenance", args)
    assert first["purged"][0]["deleted"] == 750 and first["vacuumed"] == ["public.audit_log"], first
    again = run_module("db_maintenance", args)
    assert again["changed"] is False, again
    assert again["purged"][0]["matching"] == 0 and again["vacuumed"] == []


def test_check_mode_counts_and_deletes_nothing(pg_server, audit_db):
    rule = {"table": "public.audit_log", "column": "created_at", "older_than_days": 90}
    result = run_module("db_maintenance", dict(_connection(pg_server, audit_db), purge=[rule], vacuum=True), check=True)
    assert result["changed"] is True
    assert result["purged"][0]["matching"] == 750 and result["purged"][0]["deleted"] == 0
    assert "vacuum_seconds" not in result
    assert sum(_ages(pg_server, audit_db).values()) == 1250


def test_reachability_check_reports_version(pg_server, pg_database):
    result = run_module("db_maintenance", _connection(pg_server, pg_database))
    assert result["changed"] is False and result["server_version"].startswith("15")


def test_redis_session_cleanup_uses_scan_and_spares_active_sessions(redis_server):
    client = redis_server.client()
    for n in range(30):
        client.set(f"sess:{n}", "x")
    client.set("patient:1", "keep")
    for n in range(10, 30):
        # RESTORE ... IDLETIME makes these sessions look untouched for two days, without waiting.
        client.restore(f"sess:{n}", 0, client.dump(f"sess:{n}"), replace=True, idletime=2 * 86400)
    client.restore("patient:1", 0, client.dump("patient:1"), replace=True, idletime=2 * 86400)
    args = {"engine": "redis", "redis_port": redis_server.port, "redis_password": redis_server.password,
            "session_pattern": "sess:*", "session_idle_seconds": 86400, "scan_count": 7}
    preview = run_module("db_maintenance", args, check=True)
    assert preview["sessions"] == {"pattern": "sess:*", "idle_seconds": 86400, "scanned": 30, "stale": 20, "deleted": 0}
    assert client.dbsize() == 31
    result = run_module("db_maintenance", args)
    assert result["sessions"]["deleted"] == 20 and result["changed"] is True
    assert sorted(k.decode() for k in client.scan_iter("*")) == sorted(["patient:1"] + [f"sess:{n}" for n in range(10)])


BAD_INPUTS = [
    ({"engine": "postgresql"}, "database is required"),
    ({"database": "x", "purge": [{"table": "t", "column": "c", "older_than_days": 0}]}, "older_than_days must be at least 1"),
    ({"database": "x", "purge": [{"table": "t", "column": "c", "older_than_days": 5, "batch_size": 0}]}, "batch_size must be at least 1"),
    ({"database": "x", "purge": [{"table": "t", "column": "c"}]}, "older_than_days"),
    ({"database": "x", "engine": "mysql"}, "value of engine must be one of"),
    ({"engine": "redis", "vacuum": True}, "apply to engine=postgresql only"),
    ({"database": "x", "session_pattern": "sess:*"}, "applies to engine=redis only"),
    ({"database": "x", "login_port": "not-a-port"}, "login_port"),
    ({"database": "x", "session_idle_seconds": 0}, "must be at least 1"),
    ({"database": "x", "purge": "audit_log"}, "dictionary requested"),
    ({"database": "x", "bogus_option": 1}, "Unsupported parameters"),
]


@pytest.fixture(scope="module")
def bad_input_results():
    """Every bad input, each its own module call, in one ansible-playbook run."""
    return run_module_cases("db_maintenance", [args for args, _message in BAD_INPUTS])


@pytest.mark.parametrize("args,message", BAD_INPUTS)
def test_bad_input_is_refused_clearly(bad_input_results, args, message):
    result = bad_input_results[BAD_INPUTS.index((args, message))]
    assert result.get("failed") is True
    assert message in result["msg"]
    assert "Traceback" not in result["_run"].output


def test_unreachable_server_and_bad_tables(pg_server, audit_db):
    closed = run_module("db_maintenance", dict(_connection(pg_server, audit_db), login_port=1))
    assert closed["failed"] and "cannot connect to PostgreSQL" in closed["msg"]
    wrong = run_module("db_maintenance", dict(_connection(pg_server, audit_db), login_password="wrong"))
    assert wrong["failed"] and "password authentication failed" in wrong["msg"]
    assert pg_server.password not in wrong["_run"].output
    missing = run_module("db_maintenance", dict(_connection(pg_server, audit_db),
                                                purge=[{"table": "audit_log; DROP TABLE audit_log", "column": "created_at", "older_than_days": 1}]))
    assert missing["failed"] and "no column created_at in table audit_log; DROP TABLE audit_log" in missing["msg"]
    assert sum(_ages(pg_server, audit_db).values()) == 1250
    redis_star = run_module("db_maintenance", {"engine": "redis", "redis_port": 1, "session_pattern": "*"})
    assert redis_star["failed"] and "cannot reach Redis" in redis_star["msg"]


def _kept_database(pg_server, name, label):
    pg_server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_server.create_database(name)
    if label is not None:
        pg_server.execute(f"COMMENT ON DATABASE \"{name}\" IS %s", (label,))


def test_drop_kept_older_than_days_drops_only_old_kept_copies_and_check_mode_only_lists(pg_server, pg_database):
    import datetime

    from ansible_collections.medops.runbook.plugins.module_utils import kept_database as kept

    def label(days, database=pg_database):
        moment = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)
        return kept.label(database, moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "kin", "kin.dump")

    prefix = kept.kept_prefix(pg_database)
    old, young = prefix + "20261101000000", prefix + "20261120000000"
    unlabelled, foreign = prefix + "20261001000000", prefix + "20261002000000"
    made = {old: label(20), young: label(3), unlabelled: None, foreign: label(30, database="clinic_other")}
    for name, text in made.items():
        _kept_database(pg_server, name, text)
    try:
        def present():
            rows = pg_server.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (prefix + "%",))
            return sorted(row[0] for row in rows)
        args = dict(_connection(pg_server, pg_database), drop_kept_older_than_days=14)
        dry = run_module("db_maintenance", args, check=True)
        assert dry["changed"] is True and present() == sorted(made)
        assert [(e["name"], e["action"]) for e in dry["kept_databases"]] == [(old, "would_drop"), (young, "kept")]
        done = run_module("db_maintenance", args)
        assert done["changed"] is True and [(e["name"], e["action"]) for e in done["kept_databases"]] == [(old, "dropped"), (young, "kept")]
        assert 19.9 < done["kept_databases"][0]["age_days"] < 20.1
        assert present() == sorted([young, unlabelled, foreign]), "only the old kept copy of this database goes"
        again = run_module("db_maintenance", args)
        assert again["changed"] is False and [e["action"] for e in again["kept_databases"]] == ["kept"]
        bad = run_module("db_maintenance", dict(args, drop_kept_older_than_days=-1))
        assert bad["failed"] and bad["msg"] == "drop_kept_older_than_days must be 0 or more, got -1.0"
    finally:
        for name in made:
            pg_server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_mongodb_ping_on_a_closed_port_fails_readably_and_postgresql_options_are_refused():
    """No mongod can be installed here: the live part is the refusal (the ping itself is unit-tested)."""
    from medops_lab.servers import free_port

    port = free_port()
    result = run_module("db_maintenance", {"engine": "mongodb", "login_port": port, "login_user": "kin_app",
                                           "login_password": "never-shown-1234", "connect_timeout": 1})
    assert result.get("failed") is True
    assert result["msg"].startswith(f"MongoDB at 127.0.0.1:{port} did not answer")
    assert "never-shown-1234" not in str(result)
    refused = run_module("db_maintenance", {"engine": "mongodb", "vacuum": True})
    assert refused.get("failed") is True and "apply to engine=postgresql only" in refused["msg"]
