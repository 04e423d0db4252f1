"""Error entries of a log window: timestamps, continuation lines, masking."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.medops.runbook.plugins.module_utils.log_scan import (
    DEFAULT_PATTERNS, LogScanError, compile_patterns, entry_time, mask, merge, scan)

SINCE = datetime.datetime(2026, 11, 30, 14, 0, 0)
PATTERNS = compile_patterns(DEFAULT_PATTERNS)


@pytest.mark.parametrize("line, expected", [
    ("2026-11-30 15:06:18,123 kin 1.1.0 ERROR x", datetime.datetime(2026, 11, 30, 15, 6, 18)),
    ("2026-11-30T15:06:18.5 INFO y", datetime.datetime(2026, 11, 30, 15, 6, 18)),
    ("[2026-11-30 15:06:18] WARNING z", datetime.datetime(2026, 11, 30, 15, 6, 18)),
    ("Traceback (most recent call last):", None),
    ("    raise ValueError('x')", None),
])
def test_entry_time(line, expected):
    assert entry_time(line) == expected


def test_aware_timestamps_are_read_in_local_time(monkeypatch):
    import time

    monkeypatch.setattr(time, "timezone", -3600)  # UTC+1, no daylight saving
    monkeypatch.setattr(time, "daylight", 0)
    assert entry_time("2026-11-30T14:00:00Z ERROR a") == datetime.datetime(2026, 11, 30, 15, 0, 0)
    assert entry_time("2026-11-30T16:00:00+02:00 ERROR a") == datetime.datetime(2026, 11, 30, 15, 0, 0)


def test_counts_only_errors_inside_the_window_and_skips_continuation_lines():
    lines = [
        "2026-11-30 13:59:59,000 kin 1.1.0 ERROR old: before the window",
        "2026-11-30 14:00:00,000 kin 1.1.0 INFO ok",
        "2026-11-30 14:10:00,000 kin 1.1.0 ERROR clinic_service.http: first",
        "Traceback (most recent call last):",
        "ValueError: ERROR inside a traceback is not a new entry",
        "2026-11-30 14:20:00,000 kin 1.1.0 CRITICAL second",
        "2026-11-30 14:30:00,000 kin 1.1.0 WARNING not an error",
    ]
    result = scan(lines, SINCE, PATTERNS, max_excerpts=5)
    assert (result["entries"], result["errors"]) == (4, 2)
    assert [e.split()[-1] for e in result["excerpts"]] == ["first", "second"]


def test_keeps_the_most_recent_excerpts_only():
    lines = [f"2026-11-30 14:{m:02d}:00,000 ERROR number {m}" for m in range(10)]
    result = scan(lines, SINCE, PATTERNS, max_excerpts=3)
    assert result["errors"] == 10
    assert [e.split()[-1] for e in result["excerpts"]] == ["7", "8", "9"]
    assert scan(lines, SINCE, PATTERNS, max_excerpts=0)["excerpts"] == []


@pytest.mark.parametrize("text, hidden", [
    ("login failed password=hunter2-secret for user", "hunter2-secret"),
    ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
    ("token: 'quoted value here'", "quoted value here"),
    ("patient jane.doe@example.org not found", "jane.doe@example.org"),
    ("record 12345678 failed", "12345678"),
    ("key Zx9vQ2mN8bT4kL7pR1sW5yU3 leaked", "Zx9vQ2mN8bT4kL7pR1sW5yU3"),
])
def test_mask_hides_secrets_and_identifying_data(text, hidden):
    masked = mask(text)
    assert hidden not in masked and "***" in masked


def test_mask_keeps_ordinary_words_and_cuts_long_lines():
    assert mask("2026-11-30 14:10:00,000 kin ERROR db down") == "2026-11-30 14:10:00,000 kin ERROR db down"
    assert len(mask("x " * 200)) == 160


def test_a_pattern_that_does_not_compile_is_named():
    with pytest.raises(LogScanError, match=r"'\(unclosed'"):
        compile_patterns(["(unclosed"])


def test_merge_adds_counts():
    merged = merge([{"entries": 2, "errors": 1, "excerpts": ["a"]}, {"entries": 3, "errors": 0, "excerpts": []}])
    assert merged == {"entries": 5, "errors": 1, "excerpts": ["a"]}
