# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Off-host copies of db_backup backups: what every far target shares, and the plans.

A far copy of a backup is two entries at the far end, named as the backup directory names them:
``<name>`` (the backup) and ``<name>.manifest.json`` (its manifest), the manifest sent last, so a
far copy without its manifest is not a copy (as in a backup directory). Each entry reaches its
final name only when it is complete and its sha256 was checked at the far end.

A target (one per provider: copy_ssh, copy_s3) lists its entries, sends a local file under a final
name, checks a far backup's sha256 there, fetches one back and removes entries. The plans here are
pure functions: what to send, what differs, what retention keeps.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json

MANIFEST_SUFFIX = ".manifest.json"


class CopyError(Exception):
    """A far copy operation failed; the message names the target and the copy (never a secret)."""


class CopyTarget(object):
    """One far end. Subclasses implement the five operations; names are relative to the target."""

    kind = "target"

    def describe(self):
        """Where the copies go, for messages (no credentials)."""
        raise NotImplementedError

    def list_entries(self):
        """{name: bytes} of every complete entry (no partial upload or temporary file)."""
        raise NotImplementedError

    def read_text(self, name):
        """A small entry's content (a manifest)."""
        raise NotImplementedError

    def read_texts(self, names):
        """{name: content} of several small entries (a provider may read them in one round trip)."""
        return dict((name, self.read_text(name)) for name in names)

    def put(self, path, name, sha256):
        """Send the local file ``path`` as ``name``: complete and checked before it has that name."""
        raise NotImplementedError

    def far_sha256(self, names):
        """{name: sha256 of the entry as the far end holds it} for ``names``."""
        raise NotImplementedError

    def fetch(self, name, handle):
        """Write the entry's bytes to the open binary file ``handle``."""
        raise NotImplementedError

    def remove(self, names):
        raise NotImplementedError

    def clean_partials(self, names):
        """Remove what interrupted sends of ``names`` left (temporary files, open uploads); returns them."""
        raise NotImplementedError


def far_copies(target, clinic=None, engine=None):
    """The complete far copies of ``clinic`` (and ``engine``): [{name, manifest, bytes}], newest first.
    A manifest that cannot be read, or whose backup is absent, is a problem, not a copy."""
    entries = target.list_entries()
    texts = target.read_texts(sorted(n for n in entries if n.endswith(MANIFEST_SUFFIX)))
    copies, problems = [], []
    for name in sorted(texts):
        backup = name[:-len(MANIFEST_SUFFIX)]
        try:
            manifest = json.loads(texts[name])
        except ValueError as exc:
            problems.append(problem(backup, "manifest unreadable", str(exc)))
            continue
        if not isinstance(manifest, dict) or not manifest.get("sha256"):
            problems.append(problem(backup, "manifest unreadable", "no sha256 in it"))
            continue
        if not belongs(manifest, clinic, engine):
            continue
        if backup not in entries:
            problems.append(problem(backup, "missing", "its manifest is there, the backup is not"))
            continue
        copies.append({"name": backup, "manifest": manifest, "bytes": entries[backup]})
    copies.sort(key=lambda c: (c["manifest"].get("finished_at", ""), c["name"]), reverse=True)
    return copies, problems


def belongs(manifest, clinic, engine):
    if clinic and manifest.get("clinic") not in (None, clinic):
        return False
    return not engine or manifest.get("engine") == engine


def problem(name, kind, detail):
    return {"name": name, "problem": kind, "detail": detail}


def send_plan(local, far):
    """Which local backups to send: those without a far copy whose manifest has the same sha256.
    ``local`` and ``far``: lists of {name, manifest}. Returns (to_send, already_there) names."""
    far_sums = dict((c["name"], c["manifest"].get("sha256")) for c in far)
    to_send, there = [], []
    for item in local:
        if far_sums.get(item["name"]) == item["manifest"]["sha256"]:
            there.append(item["name"])
        else:
            to_send.append(item["name"])
    return to_send, there


def check_plan(far, actual, local_names):
    """Far copies whose bytes differ from their manifest's sha256 (or could not be hashed), and
    local backups that have no far copy. ``actual``: {name: sha256 or None}."""
    problems = []
    for copy in far:
        got = actual.get(copy["name"])
        if got is None:
            problems.append(problem(copy["name"], "missing", "the far end could not hash it"))
        elif got != copy["manifest"]["sha256"]:
            problems.append(problem(copy["name"], "differs", "sha256 at the far end is %s, the manifest says %s"
                                    % (got, copy["manifest"]["sha256"])))
    have = set(c["name"] for c in far)
    problems += [problem(name, "missing", "no far copy of this local backup") for name in local_names if name not in have]
    return problems


def parse_finished(manifest):
    text = manifest.get("finished_at") or ""
    for fmt in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.datetime.strptime(text, fmt).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            continue
    return None


def retention_plan(items, now, days=30, weeks=0, months=0, protect=None):
    """Split ``items`` ({name, manifest}, any order) into kept and removed, each with a reason.

    Kept: every backup younger than ``days`` days; the newest of each of the last ``weeks`` ISO
    weeks and of the last ``months`` calendar months; the newest backup of all; ``protect`` (a
    name, the newest verified one locally). A backup whose time cannot be read is kept."""
    dated = sorted(((parse_finished(i["manifest"]), i["name"]) for i in items), key=lambda t: (t[0] is not None, t[0], t[1]),
                   reverse=True)
    reasons = dict((name, []) for _when, name in dated)
    week_firsts, month_firsts = {}, {}
    for when, name in dated:
        if when is None:
            reasons[name].append("time unknown")
            continue
        if (now - when).total_seconds() < days * 86400:
            reasons[name].append("younger than %s days" % days)
        week, month = when.isocalendar()[:2], (when.year, when.month)
        week_firsts.setdefault(week, name)
        month_firsts.setdefault(month, name)
    for label, firsts, count in (("week", week_firsts, weeks), ("month", month_firsts, months)):
        for period in sorted(firsts, reverse=True)[:count]:
            reasons[firsts[period]].append("newest of its %s" % label)
    if dated:
        reasons[dated[0][1]].append("newest backup")
    if protect in reasons:
        reasons[protect].append("newest verified backup")
    kept = [{"name": n, "reason": ", ".join(reasons[n])} for _w, n in dated if reasons[n]]
    removed = [{"name": n} for _w, n in dated if not reasons[n]]
    return kept, removed


def retention_by_engine(items, now, protect=None, **keep):
    """retention_plan per engine: a Redis snapshot never counts as the newest PostgreSQL backup."""
    kept, removed = [], []
    for engine in sorted(set(i["manifest"].get("engine") or "" for i in items)):
        group = [i for i in items if (i["manifest"].get("engine") or "") == engine]
        plan = retention_plan(group, now, protect=protect if protect in [i["name"] for i in group] else None, **keep)
        kept += plan[0]
        removed += plan[1]
    return kept, removed


def age_hours(manifest, now):
    when = parse_finished(manifest)
    return round((now - when).total_seconds() / 3600.0, 2) if when else None
