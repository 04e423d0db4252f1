"""isolation_check's judgement of probe results."""

from ansible_collections.medops.runbook.plugins.module_utils.isolation import leaks, row

REFUSED_DB = {"failed": True, "msg": 'connection to server failed: FATAL:  permission denied for database "clinic_lub"'}
REFUSED_API = {"healthy": True, "status": 401}
UNREADABLE = {"failed": True, "msg": "Permission denied"}


def test_an_isolated_clinic_has_no_finding():
    probes = {"database": [REFUSED_DB, REFUSED_DB], "api": [REFUSED_API, REFUSED_API], "files": [UNREADABLE, {"skipped": True}]}
    assert leaks(probes, "kin", ["lub", "gom"]) == []


def test_each_kind_of_leak_is_named():
    probes = {"database": [{"server_version": "15.8"}, REFUSED_DB],
              "api": [REFUSED_API, {"healthy": False, "status": 200}],
              "files": [{"stat": {"exists": True, "readable": True, "path": "/srv/lub/shared"}}, UNREADABLE]}
    assert leaks(probes, "kin", ["lub", "gom"]) == [
        "kin's database role can connect to lub's database",
        "gom's service accepted kin's API token (status 200)",
        "kin's account can read lub's shared files (/srv/lub/shared)"]


def test_a_probe_that_cannot_tell_is_a_finding():
    probes = {"database": [{"failed": True, "msg": "could not connect: Connection refused"}],
              "api": [{"healthy": False, "status": None}], "files": [{"failed": True, "msg": "I/O error"}]}
    assert leaks(probes, "kin", ["lub"]) == ["kin -> lub's database: could not tell (could not connect: Connection refused)",
                                             "kin -> lub's API: could not tell (no HTTP answer)",
                                             "kin -> lub's shared files: could not tell (I/O error)"]


def test_row():
    assert row({"clinic": "kin", "peers": ["lub", "gom"], "leaks": []}) == "kin | lub, gom | none"
