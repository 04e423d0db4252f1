# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health check's verdict on one clinic, from what its probes registered.

Down: the service cannot serve (no healthy answer, and its database is gone or no endpoint answers
200). Degraded: it serves, but something it depends on is unwell: a probe failed, the newest backup
is missing or old, a certificate expires soon, a queue is paused or its waiting or failed jobs pile
up, its process or port is missing, the newest
far copy (off the host) is missing or old, or its log holds too many error lines in the last hour. A probe
that did not run (switched off) counts as fine.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

EXCERPT = 160


def _excerpt(text):
    text = str(text)
    return text if len(text) <= EXCERPT else text[:EXCERPT - 3] + "..."


def _ran(result):
    return isinstance(result, dict) and not result.get("skipped")


def _reached(result):
    """A connection probe that did not run is fine; one that ran must have met a server."""
    return not _ran(result) or "server_version" in result


def queue_problems(queues_result, max_waiting, max_failed):
    """One sentence per queue that is paused, or whose waiting or failed jobs exceed their limit."""
    if not _ran(queues_result):
        return []
    problems = []
    for name, queue in sorted((queues_result.get("queues") or {}).items()):
        counts = queue.get("counts") or {}
        if queue.get("paused_before"):
            problems.append("queue %s: paused (jobs wait until it is resumed)" % name)
        if counts.get("waiting", 0) > max_waiting:
            problems.append("queue %s: %d jobs waiting (more than %d)" % (name, counts["waiting"], max_waiting))
        if counts.get("failed", 0) > max_failed:
            problems.append("queue %s: %d failed jobs (more than %d)" % (name, counts["failed"], max_failed))
    return problems


def process_problems(process_result):
    """The process check's findings (no process, port refused), or why it could not look."""
    if not _ran(process_result):
        return []
    if process_result.get("failed") and not process_result.get("problems"):
        return ["process: " + _excerpt(process_result.get("msg", "check failed"))]
    return ["process: " + problem for problem in process_result.get("problems") or []]


def log_problems(logs_result, max_errors):
    """Too many error lines in the service log's window, or a log that could not be read."""
    if not _ran(logs_result):
        return []
    if logs_result.get("failed"):
        return ["logs: " + _excerpt(logs_result.get("msg", "scan failed"))]
    errors = logs_result.get("errors", 0)
    if errors > max_errors:
        return ["logs: %d error lines since %s (more than %d)" % (errors, logs_result.get("since", "?"), max_errors)]
    return []


def newest(backups):
    return max(backups, key=lambda f: f.get("mtime", 0)) if backups else None


def far_copy_problems(far_result, max_age_hours):
    """The newest far copy (backup_copy state=listed) missing or older than ``max_age_hours``."""
    if not _ran(far_result):
        return []
    if far_result.get("failed"):
        return ["far copy: " + _excerpt(far_result.get("msg", "cannot list the far copies"))]
    newest = far_result.get("newest") or {}
    if not newest:
        return ["far copy: none on %s" % far_result.get("target", "the far end")]
    if newest.get("age_hours") is not None and newest["age_hours"] > max_age_hours:
        return ["far copy: newest on %s is %s h old" % (far_result.get("target", "the far end"), newest["age_hours"])]
    return []


def verdict(results, clinic, now, backup_max_age_hours=26, queue_max_waiting=1000, queue_max_failed=100,
            log_max_errors=10, far_copy_max_age_hours=26):
    """The report of one clinic: ``results`` holds the registered ``service``, ``database``,
    ``redis``, ``queues``, ``tls``, ``process`` and ``logs`` results and the backup ``files`` found."""
    service = results.get("service") or {}
    service_ok = bool(service.get("healthy"))
    db_ok, redis_ok = _reached(results.get("database")), _reached(results.get("redis"))
    backup = newest(results.get("backups") or [])
    age = round((now - backup["mtime"]) / 3600.0, 1) if backup else None
    expiring = (results.get("tls") or {}).get("expiring") or []
    problems = [] if service_ok else ["service: " + _excerpt(service.get("msg", "not healthy"))]
    problems += [] if db_ok else ["database: " + _excerpt(results["database"].get("msg", "unreachable"))]
    problems += [] if redis_ok else ["redis: " + _excerpt(results["redis"].get("msg", "unreachable"))]
    problems += queue_problems(results.get("queues"), queue_max_waiting, queue_max_failed)
    problems += process_problems(results.get("process"))
    problems += log_problems(results.get("logs"), log_max_errors)
    problems += far_copy_problems(results.get("far_copy"), far_copy_max_age_hours)
    if backup is None:
        problems.append("backup: none found")
    elif age > backup_max_age_hours:
        problems.append("backup: newest is %s h old" % age)
    if expiring:
        problems.append("tls: " + ", ".join(str(e) for e in expiring))
    answered = any(e.get("status") == 200 for e in service.get("endpoints") or [])
    down = not service_ok and (not db_ok or not answered)
    queues = (results.get("queues") or {}).get("queues") or {} if _ran(results.get("queues")) else {}
    return {
        "clinic": clinic,
        "status": "down" if down else ("degraded" if problems else "healthy"),
        "service": "ok" if service_ok else "fail",
        "degraded_checks": service.get("degraded") or [],
        "database": "ok" if db_ok else "fail",
        "redis": "ok" if redis_ok else "fail",
        "queues": queues,
        "newest_backup": os.path.basename(backup["path"]) if backup else "",
        "backup_age_hours": age,
        "process_pids": (results.get("process") or {}).get("pids") or [],
        "log_errors": (results.get("logs") or {}).get("errors") if _ran(results.get("logs")) else None,
        "log_excerpts": (results.get("logs") or {}).get("excerpts") or [],
        "far_copy_age_hours": ((results.get("far_copy") or {}).get("newest") or {}).get("age_hours"),
        "problems": problems,
    }
