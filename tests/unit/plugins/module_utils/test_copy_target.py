"""The far-copy plans: what to send, what differs, what the retention keeps."""

from __future__ import annotations

import datetime
import json

from ansible_collections.medops.runbook.plugins.module_utils import copy_target as ct

NOW = datetime.datetime(2026, 12, 1, 1, 0, tzinfo=datetime.timezone.utc)


def item(name, days_ago, sha="a" * 64, clinic="kin"):
    finished = (NOW - datetime.timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"name": name, "manifest": {"sha256": sha, "finished_at": finished, "clinic": clinic, "engine": "postgresql"}}


class FakeTarget(ct.CopyTarget):
    def __init__(self, entries):
        self.entries = entries

    def list_entries(self):
        return {name: len(body) for name, body in self.entries.items()}

    def read_text(self, name):
        return self.entries[name]


def test_send_plan_skips_copies_already_there_with_the_same_sha256():
    local = [item("new", 0, "b" * 64), item("old", 1)]
    to_send, there = ct.send_plan(local, [item("old", 1), item("new", 0, "c" * 64)])
    assert to_send == ["new"] and there == ["old"]


def test_check_plan_names_what_differs_and_what_is_missing():
    far = [item("one", 1), item("two", 2)]
    problems = ct.check_plan(far, {"one": "a" * 64, "two": "f" * 64}, ["one", "two", "three"])
    assert [(p["name"], p["problem"]) for p in problems] == [("two", "differs"), ("three", "missing")]
    assert ct.check_plan(far[:1], {"one": None}, [])[0]["problem"] == "missing"


def test_far_copies_need_their_manifest_and_their_backup():
    manifest = json.dumps(item("a.dump", 1)["manifest"])
    target = FakeTarget({"a.dump": "x", "a.dump.manifest.json": manifest, "b.dump.manifest.json": manifest,
                         "c.dump": "orphan without a manifest", "d.dump.manifest.json": "{not json"})
    copies, problems = ct.far_copies(target, clinic="kin")
    assert [c["name"] for c in copies] == ["a.dump"]
    assert sorted((p["name"], p["problem"]) for p in problems) == [("b.dump", "missing"), ("d.dump", "manifest unreadable")]
    assert ct.far_copies(target, clinic="gom")[0] == []


def test_retention_keeps_the_days_the_weeklies_the_monthlies_and_the_newest():
    items = [item("d%02d" % n, n) for n in (0, 5, 29, 31, 40, 70, 100)]
    kept, removed = ct.retention_plan(items, NOW, days=30)
    assert [k["name"] for k in kept] == ["d00", "d05", "d29"] and len(removed) == 4
    # The newest of each of the last 4 months with a backup: December, November, October, September.
    kept, _removed = ct.retention_plan(items, NOW, days=30, months=4)
    assert {k["name"] for k in kept} == {"d00", "d05", "d29", "d31", "d70"}
    kept, _removed = ct.retention_plan([item("only", 400)], NOW, days=30)
    assert kept == [{"name": "only", "reason": "newest backup"}]


def test_retention_never_removes_the_protected_backup_or_one_of_unknown_age():
    unknown = {"name": "odd", "manifest": {"sha256": "a" * 64}}
    kept, removed = ct.retention_plan([item("new", 0), item("verified", 90), unknown], NOW, days=30, protect="verified")
    assert {k["name"] for k in kept} == {"new", "verified", "odd"} and removed == []


def test_retention_by_engine_keeps_each_engines_newest():
    redis = item("snapshot", 60)
    redis["manifest"]["engine"] = "redis"
    kept, removed = ct.retention_by_engine([item("dump", 0), item("older", 60), redis], NOW, days=30)
    assert {k["name"] for k in kept} == {"dump", "snapshot"} and removed == [{"name": "older"}]


def test_age_hours():
    assert ct.age_hours(item("x", 1)["manifest"], NOW) == 24.0
    assert ct.age_hours({}, NOW) is None
