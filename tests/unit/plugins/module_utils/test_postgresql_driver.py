"""postgresql_driver: the psycopg2 import guard and connect's keywords and error messages."""

from __future__ import annotations

import importlib.util
import socket
import sys

import psycopg2
import pytest

from ansible_collections.medops.runbook.plugins.module_utils import postgresql_driver as driver


class Refused(Exception):
    """The caller's own error class, as backup_postgresql and maintenance_postgresql pass theirs."""


def closed_port():
    """A loopback port with nothing listening on it (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connect_hands_keywords_and_password_to_psycopg2(monkeypatch):
    seen = {}
    monkeypatch.setattr(driver.psycopg2, "connect", lambda **kw: seen.update(kw) or "connection")
    conn = driver.connect({"host": "db", "port": "5433", "user": None, "dbname": "clinic"}, "s3cret", Refused)
    assert conn == "connection"
    assert seen == {"host": "db", "port": "5433", "dbname": "clinic", "password": "s3cret"}


def test_connect_without_password_sends_none(monkeypatch):
    seen = {}
    monkeypatch.setattr(driver.psycopg2, "connect", lambda **kw: seen.update(kw))
    driver.connect({"host": "db", "dbname": "clinic"}, None, Refused)
    assert "password" not in seen


def test_refused_connection_names_database_host_and_port():
    port = closed_port()
    with pytest.raises(Refused) as info:
        driver.connect({"host": "127.0.0.1", "port": port, "dbname": "clinic_kin", "connect_timeout": 5}, "s3cret", Refused)
    message = str(info.value)
    assert message.startswith("cannot connect to PostgreSQL database 'clinic_kin' at 127.0.0.1:%d: " % port), message
    assert "s3cret" not in message and "Traceback" not in message


def test_password_in_a_driver_message_is_masked(monkeypatch):
    def fail(**_kw):
        raise psycopg2.OperationalError("FATAL: role rejected password 'hunter2hunter2'\n")

    monkeypatch.setattr(driver.psycopg2, "connect", fail)
    with pytest.raises(Refused) as info:
        driver.connect({"dbname": "d"}, "hunter2hunter2", Refused)
    assert str(info.value) == ("cannot connect to PostgreSQL database 'd' at (default socket):5432: "
                               "FATAL: role rejected password '********'")


def test_every_psycopg2_error_becomes_the_callers_error(monkeypatch):
    def fail(**_kw):
        raise psycopg2.ProgrammingError("invalid connection option \"bogus\"")

    monkeypatch.setattr(driver.psycopg2, "connect", fail)
    with pytest.raises(Refused, match="database 'd' at h:1: invalid connection option"):
        driver.connect({"host": "h", "port": 1, "dbname": "d"}, None, Refused)


def test_scrub_and_where():
    assert driver.scrub("a pw b pw", "pw") == "a ******** b ********"
    assert driver.scrub("text", None) == "text"
    assert driver.where({}) == "(default socket):5432"
    assert driver.where({"host": "/run/postgresql", "port": "6543"}) == "/run/postgresql:6543"


def test_import_guard_records_the_error_when_psycopg2_is_missing(monkeypatch):
    for name in ("psycopg2", "psycopg2.extensions", "psycopg2.sql"):
        monkeypatch.setitem(sys.modules, name, None)  # None in sys.modules makes the import fail
    spec = importlib.util.spec_from_file_location("postgresql_driver_without_psycopg2", driver.__file__)
    bare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bare)
    assert bare.psycopg2 is None and bare.sql is None
    assert "ImportError" in bare.PSYCOPG2_IMPORT_ERROR or "ModuleNotFoundError" in bare.PSYCOPG2_IMPORT_ERROR
    assert driver.PSYCOPG2_IMPORT_ERROR is None and driver.psycopg2 is psycopg2
