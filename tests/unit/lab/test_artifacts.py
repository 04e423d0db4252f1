"""Unpacking release tarballs safely on every Python the README claims (3.11.2 has no tar filters)."""

from __future__ import annotations

import io
import tarfile

import pytest

from medops_lab import artifacts


def _tar(path, members):
    """Write a tarball of (name, kind, payload) members: kind 'file' (payload bytes) or 'sym'/'link' (payload target)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
            else:
                info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                info.linkname = payload
                tar.addfile(info)
    return path


@pytest.fixture(params=["python-filter", "fallback"])
def extract_mode(request, monkeypatch):
    """Both paths: Python's data filter where it exists, and the checks used without it (3.11.2)."""
    if request.param == "fallback":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.fail("this Python has no tarfile.data_filter: the suite's virtualenv must run 3.11.4 or later")
    return request.param


def test_a_release_unpacks_whole(tmp_path, extract_mode):
    built = artifacts.build(tmp_path / "artifacts")
    tarball = next(item["path"] for item in built if item["version"] == "1.1.0")
    release = tmp_path / "releases" / "1.1.0"
    release.parent.mkdir()
    artifacts.unpack(tarball, release)
    assert (release / "VERSION").read_text() == "1.1.0\n"
    assert (release / "migrations" / "0002_appointments.sql").is_file()
    assert not (tmp_path / "releases" / ".1.1.0.unpacking").exists()


@pytest.mark.parametrize("members", [
    [("{tmp}/evil", "file", b"x")],
    [("../evil", "file", b"x")],
    [("ok/../../evil", "file", b"x")],
    [("escape", "sym", "{tmp}")],
    [("escape", "sym", "../outside")],
    [("d", "sym", "."), ("escape", "sym", "d/x/../..")],
    [("escape", "link", "../outside")],
], ids=["absolute", "dotdot", "inner-dotdot", "symlink-absolute", "symlink-up", "symlink-chain", "hardlink-up"])
def test_members_that_leave_the_target_are_refused(tmp_path, extract_mode, members):
    members = [(name.format(tmp=tmp_path), kind, payload if kind == "file" else payload.format(tmp=tmp_path))
               for name, kind, payload in members]
    tarball = _tar(tmp_path / "bad.tar.gz", [("VERSION", "file", b"9.9.9\n"), *members])
    dest = tmp_path / "out"
    dest.mkdir()
    with tarfile.open(tarball) as tar:
        try:
            artifacts.safe_extract(tar, dest)
        except (artifacts.UnsafeMember, tarfile.FilterError):
            refused = True
        else:
            refused = False
    # Python's filter may instead strip a leading '/' (the file then lands inside); the fallback refuses.
    assert refused or (extract_mode == "python-filter" and members[0][0].startswith("/"))
    assert not (tmp_path / "evil").exists() and not (tmp_path / "outside").exists()


def test_the_fallback_refuses_before_writing_anything(tmp_path, monkeypatch):
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    tarball = _tar(tmp_path / "bad.tar.gz", [("VERSION", "file", b"1\n"), ("../evil", "file", b"x")])
    dest = tmp_path / "out"
    dest.mkdir()
    with tarfile.open(tarball) as tar, pytest.raises(artifacts.UnsafeMember, match=r"'\.\./evil'"):
        artifacts.safe_extract(tar, dest)
    assert list(dest.iterdir()) == []


def test_the_fallback_refuses_devices(tmp_path, monkeypatch):
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    info = tarfile.TarInfo("null")
    info.type = tarfile.CHRTYPE
    with pytest.raises(artifacts.UnsafeMember, match="only files, directories and links"):
        artifacts.check_member(info, tmp_path)


def test_inner_links_are_kept_by_the_fallback(tmp_path, monkeypatch):
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    tarball = _tar(tmp_path / "ok.tar.gz", [("VERSION", "file", b"1\n"), ("alias", "sym", "VERSION"),
                                            ("copy", "link", "VERSION")])
    dest = tmp_path / "out"
    dest.mkdir()
    with tarfile.open(tarball) as tar:
        artifacts.safe_extract(tar, dest)
    assert (dest / "alias").read_text() == "1\n" and (dest / "copy").read_text() == "1\n"
