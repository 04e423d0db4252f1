# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Error lines of a service's log over a recent window, counted, with excerpts masked.

A log entry starts with a timestamp (``2026-11-30 15:06:18,123``, ISO 8601 with ``T``, an optional
fraction and an optional offset or ``Z``); lines without one (a traceback's) belong to the entry
before them. An entry counts when it is inside the window and one of the patterns matches its first
line. What is shown of an entry is masked first: logs may carry patient data and secrets, and a
health report or an incident report must not.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

# Matched against an entry's first line (a traceback follows the ERROR line that logged it).
DEFAULT_PATTERNS = (r"\b(ERROR|CRITICAL|FATAL)\b",)
EXCERPT = 160
MASK = "***"
_STAMP = re.compile(r"^\[?(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})([.,]\d+)?(Z|[+-]\d{2}:?\d{2})?")
# What is hidden of an excerpt, in this order: secrets named in key=value or key: value form, bearer
# tokens, e-mail addresses, long runs of token-like characters, and numbers of six digits or more
# (record numbers, phone numbers, dates of birth written without separators).
_MASKS = (
    re.compile(r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|authorization)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"),
    re.compile(r"(?i)\b(bearer)(\s+)(\S+)"),
    re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"),
    re.compile(r"\b[A-Za-z0-9_\-]{24,}\b"),
    re.compile(r"\b\d{6,}\b"),
)


class LogScanError(Exception):
    """A setting that cannot work (a pattern that does not compile); the message names it."""


def compile_patterns(patterns):
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise LogScanError("pattern %r does not compile: %s" % (pattern, exc))
    return compiled


def entry_time(line):
    """The entry's time as a naive local datetime or an aware one, or None for a continuation line."""
    found = _STAMP.match(line)
    if not found:
        return None
    stamp = datetime.datetime.strptime(found.group(1) + " " + found.group(2), "%Y-%m-%d %H:%M:%S")
    zone = found.group(4)
    if zone:
        if zone == "Z":
            offset = datetime.timedelta(0)
        else:
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            offset = sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        stamp = (stamp - offset).replace(tzinfo=None) + _local_offset(stamp)
    return stamp


def _local_offset(stamp):
    """The host's UTC offset at ``stamp`` (the window is compared in local time, as logging writes it)."""
    import time

    seconds = -(time.altzone if time.daylight and time.localtime().tm_isdst else time.timezone)
    return datetime.timedelta(seconds=seconds)


def mask(text):
    """``text`` with secrets and identifying data replaced by ``***``, cut to EXCERPT characters."""
    text = " ".join(str(text).split())
    # The bearer token first: "Authorization: Bearer <token>" names its secret one word later.
    text = _MASKS[1].sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    text = _MASKS[0].sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    for pattern in _MASKS[2:]:
        text = pattern.sub(MASK, text)
    return text if len(text) <= EXCERPT else text[:EXCERPT - 3] + "..."


def scan(lines, since, patterns, max_excerpts=5):
    """Count the entries at or after ``since`` whose first line matches a pattern.

    Returns ``entries`` (entries in the window), ``errors`` and up to ``max_excerpts`` masked
    ``excerpts`` (the most recent ones)."""
    entries = errors = 0
    excerpts = []
    for line in lines:
        stamp = entry_time(line)
        if stamp is None or stamp < since:
            continue  # a continuation line (judged with its first line), or an entry before the window
        entries += 1
        if any(p.search(line) for p in patterns):
            errors += 1
            if max_excerpts > 0:
                excerpts = (excerpts + [mask(line)])[-max_excerpts:]
    return {"entries": entries, "errors": errors, "excerpts": excerpts}


def merge(results):
    """One summary over several files' scans."""
    excerpts = [e for r in results for e in r["excerpts"]]
    return {"entries": sum(r["entries"] for r in results), "errors": sum(r["errors"] for r in results),
            "excerpts": excerpts}
