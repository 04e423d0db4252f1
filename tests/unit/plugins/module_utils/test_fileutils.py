"""fileutils: atomic writes, tree checksums, streaming hash."""

from __future__ import annotations

import errno
import hashlib
import io
import os

import pytest

from ansible_collections.medops.runbook.plugins.module_utils import fileutils


def test_atomic_write_sets_mode_and_leaves_no_temp(tmp_path):
    target = tmp_path / "x.json"
    fileutils.atomic_write(str(target), "hello", 0o600)
    fileutils.atomic_write(str(target), b"again", 0o640)
    assert target.read_bytes() == b"again"
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "x"
    target.write_text("old")

    def boom(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(fileutils, "atomic_rename", boom)
    with pytest.raises(OSError):
        fileutils.atomic_write(str(target), "new")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["x"]


def test_write_synced_creates_exclusively_with_the_mode(tmp_path):
    lock = tmp_path / "deploy.lock"
    fileutils.write_synced(str(lock), '{"run_id": "a"}\n', os.O_CREAT | os.O_EXCL)
    assert lock.read_text() == '{"run_id": "a"}\n'
    assert oct(lock.stat().st_mode & 0o777) == "0o600"
    with pytest.raises(OSError) as info:
        fileutils.write_synced(str(lock), "second", os.O_CREAT | os.O_EXCL)
    assert info.value.errno == errno.EEXIST
    assert lock.read_text() == '{"run_id": "a"}\n', "an exclusive create never touches an existing file"


def test_write_synced_appends_text_and_bytes(tmp_path):
    record = tmp_path / "deployments.jsonl"
    fileutils.write_synced(str(record), "one\n", os.O_CREAT | os.O_APPEND, 0o640)
    fileutils.write_synced(str(record), b"two\n", os.O_CREAT | os.O_APPEND, 0o600)
    assert record.read_bytes() == b"one\ntwo\n"
    assert oct(record.stat().st_mode & 0o777) == "0o640", "the mode applies to a new file only"


def test_write_synced_fsyncs_before_closing(tmp_path, monkeypatch):
    events = []
    real_fsync, real_close = os.fsync, os.close
    monkeypatch.setattr(os, "fsync", lambda fd: events.append(("fsync", fd)) or real_fsync(fd))
    monkeypatch.setattr(os, "close", lambda fd: events.append(("close", fd)) or real_close(fd))
    fileutils.write_synced(str(tmp_path / "f"), "x", os.O_CREAT | os.O_TRUNC)
    assert [event[0] for event in events] == ["fsync", "close"] and events[0][1] == events[1][1]


def test_sha256_file_matches_hashlib_and_size(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert fileutils.sha256_file(str(path), chunk=65536) == (hashlib.sha256(data).hexdigest(), len(data))


def test_sha256_tree_changes_on_content_rename_and_addition(tmp_path):
    tree = tmp_path / "d"
    (tree / "sub").mkdir(parents=True)
    (tree / "a").write_bytes(b"1")
    (tree / "sub" / "b").write_bytes(b"22")
    first = fileutils.sha256_tree(str(tree))
    assert first[1] == 3 and fileutils.sha256_path(str(tree)) == first
    (tree / "a").write_bytes(b"2")
    changed = fileutils.sha256_tree(str(tree))
    (tree / "a").rename(tree / "c")
    renamed = fileutils.sha256_tree(str(tree))
    (tree / "d").write_bytes(b"")
    added = fileutils.sha256_tree(str(tree))
    assert len({first[0], changed[0], renamed[0], added[0]}) == 4


def test_hashing_writer_streams_in_chunks():
    src = io.BytesIO(b"x" * 5000)
    out = io.BytesIO()
    writer = fileutils.HashingWriter(out)
    fileutils.copy_stream(src, writer, chunk=1024)
    assert out.getvalue() == b"x" * 5000 and writer.size == 5000
    assert writer.hexdigest() == hashlib.sha256(b"x" * 5000).hexdigest()


def test_remove_path_and_private_dir(tmp_path):
    target = tmp_path / "new" / "deeper"
    assert fileutils.ensure_private_dir(str(target)) is True
    assert oct(target.stat().st_mode & 0o777) == "0o700"
    assert fileutils.ensure_private_dir(str(target)) is False
    (target / "f").write_bytes(b"abc")
    assert fileutils.path_size(str(target)) == 3
    assert fileutils.remove_path(str(target)) == 3 and not target.exists()
