"""db_maintenance's MongoDB ping, with a stub client (no mongod can be installed here)."""

from __future__ import annotations

import pytest

from ansible_collections.medops.runbook.plugins.module_utils import maintenance_mongodb as mongo


class StubAdmin:
    def __init__(self, error=None):
        self.error = error
        self.commands = []

    def command(self, name):
        self.commands.append(name)
        if self.error:
            raise self.error
        return {"ok": 1.0}


def stub_client(error=None, version="7.0.12"):
    made = []

    class StubClient:
        def __init__(self, **kwargs):
            self.kwargs = kwargs
            self.admin = StubAdmin(error)
            self.closed = False
            made.append(self)

        def server_info(self):
            return {"version": version}

        def close(self):
            self.closed = True

    return StubClient, made


def test_client_kwargs_keep_the_password_out_of_any_uri_and_default_the_port():
    kwargs = mongo.client_kwargs("db.example.org", None, "kin_app", "s3cret", "clinic_kin", 5)
    assert kwargs == {"host": "db.example.org", "port": 27017, "serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 5000,
                      "username": "kin_app", "password": "s3cret", "authSource": "clinic_kin"}
    assert "username" not in mongo.client_kwargs("127.0.0.1", 27018, None, None, None, 1)


def test_ping_reports_the_server_version_and_closes_the_client():
    client_class, made = stub_client()
    assert mongo.ping(mongo.client_kwargs("127.0.0.1", 27017, None, None, None, 1), client_class) == {"server_version": "7.0.12"}
    assert made[0].admin.commands == ["ping"] and made[0].closed


def test_an_unreachable_server_is_a_readable_error_without_the_password(monkeypatch):
    class Timeout(Exception):
        pass

    monkeypatch.setattr(mongo, "PyMongoError", Timeout)
    client_class, made = stub_client(error=Timeout("127.0.0.1:27017: [Errno 111] Connection refused\nTopology details"))
    kwargs = mongo.client_kwargs("127.0.0.1", 27017, "kin_app", "s3cret", "clinic_kin", 1)
    with pytest.raises(mongo.MongoMaintenanceError) as raised:
        mongo.ping(kwargs, client_class)
    assert str(raised.value) == "MongoDB at 127.0.0.1:27017 did not answer: 127.0.0.1:27017: [Errno 111] Connection refused"
    assert "s3cret" not in str(raised.value) and made[0].closed
