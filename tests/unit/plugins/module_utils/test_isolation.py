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


def test_queues_sharing_a_server_database_and_prefix_leak():
    kin = {"server": "r1:6379", "db": "0", "prefix": "bull", "queues": ["clinic-kin", "mail"]}
    probes = {"queue_space": kin, "queues": [
        {"server": "r1:6379", "db": "0", "prefix": "bull", "queues": ["clinic-lub", "mail"]},   # shares "mail"
        {"server": "r1:6379", "db": "1", "prefix": "bull", "queues": ["clinic-kin"]},            # another database
        {"server": "r2:6379", "db": "0", "prefix": "bull", "queues": ["clinic-kin"]}]}            # another server
    assert leaks(probes, "kin", ["lub", "gom", "c04"]) == ["kin and lub share queue keys (Redis r1:6379 db 0, bull:mail:*)"]
    assert leaks({"queue_space": kin, "queues": [dict(kin, prefix="gom")]}, "kin", ["gom"]) == []
