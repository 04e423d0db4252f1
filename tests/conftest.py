"""Shared fixtures: throwaway PostgreSQL, Redis and HTTP servers on free loopback ports.

Each fixture starts its own server in a temporary directory and stops it afterwards; no test
touches a server it did not start (the machine's standing services included).

`make integration` runs the tests on two pytest-xdist workers (``--dist loadfile``): a file's tests
run in order on one worker, and each worker has its own session fixtures (its own lab, PostgreSQL,
Unleash...). Tests in different files may therefore run at the same time: anything a test makes
outside its fixtures' directories (podman images and containers, system accounts, files in /tmp)
must carry a name of its own, and a test may count only what it made itself.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from harness.http import HttpService
from medops_lab.servers import PostgresServer, RedisServer

PG_PASSWORD = "pg-harness-Secret-7f3a9c1e5b2d4a6f"
REDIS_PASSWORD = "redis-harness-Secret-0c8e2a4f6b1d3e5a"


def _server_dir(prefix: str) -> Path:
    """A temporary directory that a demoted server account can enter (tempfile makes 0700)."""
    path = Path(tempfile.mkdtemp(prefix=f"medops-{prefix}-"))
    os.chmod(path, 0o755)
    return path


@pytest.fixture()
def server_dir():
    """An empty directory for a server of the test's own (readable by the server account)."""
    return _server_dir("srv")


@pytest.fixture(scope="session")
def pg_server():
    """A PostgreSQL cluster that needs a password over TCP (``pg_server.password``)."""
    base = _server_dir("pg")
    server = PostgresServer(base / "data", password=PG_PASSWORD).start()
    yield server
    server.stop("immediate")


@pytest.fixture()
def pg_database(pg_server, request):
    """A fresh, empty database on the session's PostgreSQL; dropped afterwards."""
    name = "t_" + request.node.name.lower().replace("[", "_").replace("]", "").replace("-", "_")[:50]
    pg_server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    pg_server.create_database(name)
    yield name
    pg_server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def redis_server():
    """A Redis of the test's own, with a password, writing RDB snapshots to its directory."""
    server = RedisServer(_server_dir("redis"), password=REDIS_PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture()
def http_service():
    """Factory: ``svc = http_service({"/health": handler})`` starts a scripted HTTP service."""
    started: list[HttpService] = []

    def factory(routes=None, **kwargs) -> HttpService:
        service = HttpService(routes, **kwargs).start()
        started.append(service)
        return service

    yield factory
    for service in started:
        service.stop()


@pytest.fixture(scope="session")
def lab():
    """The multi-clinic lab (kin, lub, gom) in its own temporary state dir, on free ports.

    ``lab.state`` is its state dir, ``lab.inventory`` the inventory to pass to ansible-playbook
    together with ``lab.env`` (MEDOPS_LAB_STATE), ``lab.run("restart", "kin")`` runs a lab command,
    ``lab.clinic("kin")`` / ``lab.info`` what the lab recorded. Stopped after the session.
    """
    from medops_lab.testing import LabHandle

    with LabHandle.running() as handle:
        yield handle
