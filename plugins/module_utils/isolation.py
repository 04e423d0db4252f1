# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What playbooks/isolation_check.yml's probes of one clinic against its peers say: the leaks, as
sentences, and probes that could not tell (which count too: an unproven isolation is no isolation)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# A refused login says so in one of these ways (PostgreSQL's wording); anything else is no proof.
REFUSED = ("permission denied", "password authentication failed", "no pg_hba.conf entry", "not permitted",
           "does not exist")


def _excerpt(text, size=120):
    text = " ".join(str(text).split())
    return text if len(text) <= size else text[:size - 3] + "..."


def database_finding(clinic, peer, result):
    if "server_version" in result:
        return "%s's database role can connect to %s's database" % (clinic, peer)
    message = str(result.get("msg", ""))
    if any(word in message.lower() for word in REFUSED):
        return None
    return "%s -> %s's database: could not tell (%s)" % (clinic, peer, _excerpt(message or "no answer"))


def api_finding(clinic, peer, result):
    if result.get("skipped") or result.get("healthy"):
        return None
    status = result.get("status")
    if status is None:
        return "%s -> %s's API: could not tell (no HTTP answer)" % (clinic, peer)
    return "%s's service accepted %s's API token (status %s)" % (peer, clinic, status)


def files_finding(clinic, peer, result):
    if result.get("failed"):
        message = str(result.get("msg", ""))
        if "permission denied" in message.lower():
            return None
        return "%s -> %s's shared files: could not tell (%s)" % (clinic, peer, _excerpt(message or "failed"))
    stat = result.get("stat") or {}
    if result.get("skipped") or not stat.get("exists") or not stat.get("readable"):
        return None
    return "%s's account can read %s's shared files (%s)" % (clinic, peer, stat.get("path", ""))


def queue_finding(clinic, peer, mine, theirs):
    """Two clinics whose queues share Redis keys: the same server, database and prefix, and a queue
    name in common (their workers would take each other's jobs)."""
    same_space = all(str(mine.get(key)) == str(theirs.get(key)) for key in ("server", "db", "prefix"))
    shared = sorted(set(mine.get("queues") or []) & set(theirs.get("queues") or []))
    if not (same_space and shared):
        return None
    return "%s and %s share queue keys (Redis %s db %s, %s:%s:*)" % (
        clinic, peer, mine.get("server"), mine.get("db"), mine.get("prefix"), ", ".join(shared))


def leaks(results, clinic, peers):
    """Findings of ``clinic`` against ``peers`` from the probes' loop results (in ``peers`` order);
    ``queue_space`` is where this clinic's queue keys live, ``queues`` where each peer's do."""
    found = []
    for kind, judge in (("database", database_finding), ("api", api_finding), ("files", files_finding)):
        for peer, result in zip(peers, results.get(kind) or []):
            finding = judge(clinic, peer, result or {})
            if finding:
                found.append(finding)
    mine = results.get("queue_space") or {}
    for peer, theirs in zip(peers, results.get("queues") or []):
        finding = queue_finding(clinic, peer, mine, theirs or {})
        if finding:
            found.append(finding)
    return found


def row(report):
    return "%s | %s | %s" % (report["clinic"], ", ".join(report["peers"]) or "-", "; ".join(report["leaks"]) or "none")
