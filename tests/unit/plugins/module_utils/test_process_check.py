"""Process matching over a /proc tree of the test's own, and the port check on loopback."""

from __future__ import annotations

import socket

import pytest

from ansible_collections.medops.runbook.plugins.module_utils.process_check import (
    ProcessCheckError, compile_pattern, matching, port_open, problems, processes)


def fake_proc(root, pid, uid, argv):
    entry = root / str(pid)
    entry.mkdir()
    (entry / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (entry / "status").write_text(f"Name:\tx\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")


def test_processes_reads_pid_uid_and_command_line(tmp_path):
    fake_proc(tmp_path, 10, 999, ["python", "-m", "clinic_service", "serve"])
    fake_proc(tmp_path, 11, 0, [])  # a kernel thread: no command line
    (tmp_path / "self").mkdir()
    assert processes(str(tmp_path)) == [(10, 999, "python -m clinic_service serve")]


def test_matching_filters_by_pattern_uid_and_exclusions():
    found = [(10, 999, "python -m clinic_service serve"), (11, 998, "python -m clinic_service serve"),
             (12, 999, "bash"), (13, 999, "python process_check clinic_service")]
    pattern = compile_pattern("clinic_service serve")
    assert matching(found, pattern) == [10, 11]
    assert matching(found, pattern, uid=999) == [10]
    assert matching(found, compile_pattern("clinic_service"), exclude=(13,)) == [10, 11]


def test_port_open_on_a_listening_loopback_socket():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        assert port_open("127.0.0.1", port, 2) is True
    finally:
        server.close()
    assert port_open("127.0.0.1", port, 2) is False


def test_problems_name_what_is_wrong():
    assert problems([10], "x", 8080, True) == []
    assert problems([], "clinic_service", None, None) == ["no process matches 'clinic_service'"]
    assert problems([10], "x", 8080, False) == ["nothing accepts connections on port 8080"]


def test_a_bad_pattern_is_named():
    with pytest.raises(ProcessCheckError, match="does not compile"):
        compile_pattern("(")
