"""The harness itself: each server really starts on loopback, works, and is gone afterwards."""

import socket

import psycopg2
import pytest
import requests

from harness.http import Reply
from medops_lab.servers import LOOPBACK, PostgresServer, RedisServer, pid_alive


def test_postgres_requires_its_password_over_tcp(pg_server):
    assert pg_server.execute("SELECT current_user")[0][0] == "postgres"
    params = pg_server.connection_params()
    params["password"] = "wrong"
    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(**params)


def test_database_names_are_data_not_sql(pg_server):
    name = 'clinic"; DROP DATABASE postgres; --'
    pg_server.create_database(name)
    names = {row[0] for row in pg_server.execute("SELECT datname FROM pg_database")}
    assert {name, "postgres"} <= names
    pg_server.execute("DROP DATABASE %s" % ('"' + name.replace('"', '""') + '"'))


def test_redis_needs_password_and_stops_by_pid(server_dir):
    server = RedisServer(server_dir, password="p" * 40).start()
    pid = server.pid()
    assert server.client().ping() is True
    assert "p" * 40 not in open(f"/proc/{pid}/cmdline").read()
    server.stop()
    assert not pid_alive(pid)
    with pytest.raises(OSError):
        socket.create_connection((LOOPBACK, server.port), timeout=1)


def test_postgres_stop_frees_the_port(server_dir):
    server = PostgresServer(server_dir / "data").start()
    assert server.execute("SELECT 1") == [(1,)]
    server.stop()
    assert server.pid() is None
    with pytest.raises(OSError):
        socket.create_connection((LOOPBACK, server.port), timeout=1)


def test_http_service_routes(http_service):
    calls = []

    def health(request):
        calls.append(request.method)
        return Reply(503 if len(calls) == 1 else 200, {"status": "ok" if len(calls) > 1 else "fail"})

    svc = http_service({"/health": health})
    assert requests.get(svc.url("/health"), timeout=5).status_code == 503
    assert requests.get(svc.url("/health"), timeout=5).json() == {"status": "ok"}
    assert requests.get(svc.url("/nope"), timeout=5).status_code == 404
