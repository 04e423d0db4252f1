"""release: a release tree shipped whole, checked before unpacking, switched by rename, pruned by age."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile

import pytest

from ansible_collections.medops.runbook.plugins.module_utils import release
from ansible_collections.medops.runbook.plugins.module_utils.release import ReleaseError, ReleaseTree


def tarball(path, files=None, links=None):
    """A gzipped tar with files {name: text} and symlinks {name: target}; returns (path, sha256)."""
    with tarfile.open(path, "w:gz") as archive:
        for name, text in (files or {"app.py": "print('hi')\n"}).items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            archive.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return str(path), hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "releases").mkdir()
    (tmp_path / "shared").mkdir()
    return ReleaseTree(str(tmp_path))


def test_a_release_is_unpacked_whole_marked_and_nothing_else_is_left(tree, tmp_path):
    src, sha = tarball(tmp_path / "r.tar.gz", {"app.py": "x", "lib/util.py": "y"})
    tree.unpack("1.1.0", src, sha)
    assert (tmp_path / "releases" / "1.1.0" / "lib" / "util.py").read_text() == "y"
    assert tree.complete("1.1.0") and (tmp_path / "releases" / "1.1.0" / release.COMPLETE_MARK).read_text() == sha + "\n"
    assert os.stat(tmp_path / "releases" / "1.1.0" / "app.py").st_mode & 0o777 == 0o755
    assert sorted(os.listdir(tmp_path / "releases")) == ["1.1.0"]


def test_a_checksum_mismatch_unpacks_nothing_and_keeps_an_earlier_attempt(tree, tmp_path):
    src, dummy = tarball(tmp_path / "r.tar.gz")
    (tmp_path / "releases" / "1.1.0").mkdir()
    with pytest.raises(ReleaseError, match="does not match the expected"):
        tree.unpack("1.1.0", src, "0" * 64)
    assert sorted(os.listdir(tmp_path / "releases")) == ["1.1.0"] and not tree.complete("1.1.0")


def test_an_interrupted_attempt_is_replaced(tree, tmp_path):
    leftover = tmp_path / "releases" / "1.1.0"
    leftover.mkdir()
    (leftover / "half.py").write_text("half")
    src, sha = tarball(tmp_path / "r.tar.gz")
    tree.unpack("1.1.0", src, sha)
    assert sorted(os.listdir(leftover)) == [release.COMPLETE_MARK, "app.py"]


@pytest.mark.parametrize("files, links, message", [
    ({"../evil.py": "x"}, None, "would land outside"),
    ({"/etc/evil": "x"}, None, "would land outside"),
    (None, {"escape": "../../etc/passwd"}, "points outside"),
    (None, {"abs": "/etc/passwd"}, "points outside"),
])
def test_members_that_leave_the_release_are_refused_and_nothing_stays(tree, tmp_path, files, links, message):
    src, sha = tarball(tmp_path / "r.tar.gz", files or {"ok.py": "x"}, links)
    with pytest.raises(ReleaseError, match=message):
        tree.unpack("1.1.0", src, sha)
    assert os.listdir(tmp_path / "releases") == []


def test_a_link_inside_the_release_is_kept(tree, tmp_path):
    src, sha = tarball(tmp_path / "r.tar.gz", {"bin/app": "x"}, {"app": "bin/app"})
    tree.unpack("1.1.0", src, sha)
    assert os.readlink(tmp_path / "releases" / "1.1.0" / "app") == "bin/app"


def test_not_a_tarball_is_a_clear_error(tree, tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar")
    with pytest.raises(ReleaseError, match="not a readable tar archive"):
        tree.unpack("1.1.0", str(junk), hashlib.sha256(b"not a tar").hexdigest())
    assert os.listdir(tmp_path / "releases") == []


def test_shared_paths_are_linked_once_replacing_a_shipped_directory(tree, tmp_path):
    src, sha = tarball(tmp_path / "r.tar.gz", {"public/uploads/readme": "x", "app.py": "y"})
    tree.unpack("1.1.0", src, sha)
    shared = [{"src": ".env", "dest": ".env"}, {"src": "uploads", "dest": "public/uploads"}]
    assert tree.link_shared("1.1.0", shared, check_mode=True) == [".env", "public/uploads"]
    assert not os.path.islink(tmp_path / "releases" / "1.1.0" / ".env")
    assert tree.link_shared("1.1.0", shared) == [".env", "public/uploads"]
    assert os.readlink(tmp_path / "releases" / "1.1.0" / "public" / "uploads") == str(tmp_path / "shared" / "uploads")
    assert tree.link_shared("1.1.0", shared) == []


def test_activate_replaces_current_by_rename_and_is_idempotent(tree, tmp_path):
    for version in ("1.0.0", "1.1.0"):
        (tmp_path / "releases" / version).mkdir()
    assert tree.live() == ""
    assert tree.activate("1.0.0") is True and tree.live() == "1.0.0"
    assert tree.activate("1.1.0", check_mode=True) is True and tree.live() == "1.0.0"
    assert tree.activate("1.1.0") is True and os.readlink(tmp_path / "current") == "releases/1.1.0"
    assert tree.activate("1.1.0") is False
    assert not [name for name in os.listdir(tmp_path) if name.startswith("current.")]
    with pytest.raises(ReleaseError, match="does not exist"):
        tree.activate("2.0.0")
    assert tree.activate("2.0.0", check_mode=True) is True, "in check mode the run would have shipped it"


def test_prune_keeps_the_newest_and_the_protected(tree, tmp_path):
    for age, version in enumerate(["1.4.0", "1.3.0", "1.2.0", "1.1.0", "1.0.0"]):
        path = tmp_path / "releases" / version
        path.mkdir()
        os.utime(path, (1000 - age, 1000 - age))
    (tmp_path / "releases" / ".1.5.0.staging").mkdir()
    assert tree.prune(2, {"1.0.0"}, check_mode=True) == ["1.2.0", "1.1.0"]
    assert len(os.listdir(tmp_path / "releases")) == 6
    assert tree.prune(2, {"1.0.0"}) == ["1.2.0", "1.1.0"]
    assert sorted(os.listdir(tmp_path / "releases")) == [".1.5.0.staging", "1.0.0", "1.3.0", "1.4.0"]


def test_disk_usage_is_what_df_reports(tmp_path):
    """Available MiB and Capacity as `df -P` prints them (the maintenance role's limit is on the latter)."""
    import subprocess

    free, used_percent = release.disk_usage(str(tmp_path))
    fields = subprocess.run(["df", "-P", "-m", "--", str(tmp_path)], capture_output=True, text=True,
                            check=True).stdout.splitlines()[-1].split()
    # Other processes write to the same file system between the two readings: allow a little drift.
    assert abs(free - int(fields[3])) <= 64
    assert abs(used_percent - int(fields[4].rstrip("%"))) <= 1
    assert 0 <= used_percent <= 100 and release.free_mb(str(tmp_path)) >= 0
    with pytest.raises(ReleaseError, match="cannot measure free space"):
        release.disk_usage(str(tmp_path / "missing"))


def test_bad_mark_free_space_and_checksums(tree, tmp_path):
    (tmp_path / "releases" / "1.2.0").mkdir()
    assert tree.bad_mark("1.2.0") == ""
    (tmp_path / "releases" / "1.2.0" / release.BAD_MARK).write_text("run 7 failed at verify\n")
    assert tree.bad_mark("1.2.0") == "run 7 failed at verify"
    assert release.free_mb(str(tmp_path)) > 0
    with pytest.raises(ReleaseError, match="cannot measure free space"):
        release.free_mb(str(tmp_path / "missing"))
    assert release.normalise_checksum("SHA256:" + "A" * 64) == "a" * 64
    with pytest.raises(ReleaseError, match="64 hex digits"):
        release.normalise_checksum("md5:abc")


def test_download_streams_to_a_temporary_file_and_leaves_nothing_on_failure(tmp_path):
    path = release.download(lambda url: io.BytesIO(b"payload"), "http://x/r.tar.gz", str(tmp_path), "1.1.0")
    assert open(path, "rb").read() == b"payload" and os.path.basename(path).startswith(".1.1.0.")

    class Broken(io.BytesIO):
        def read(self, *args):
            raise OSError("connection reset")

        read1 = read

    with pytest.raises(OSError):
        release.download(lambda url: Broken(), "http://x/r.tar.gz", str(tmp_path), "1.2.0")
    assert [p.name for p in tmp_path.iterdir()] == [os.path.basename(path)]


@pytest.mark.parametrize("name, ok", [("1.1.0", True), ("1.2.0-bad+b7", True), ("v2_rc.1", True), ("", False), (None, False),
                                      ("../1.0.0", False), ("1..0", False), (".hidden", False), ("1.0/2", False),
                                      ("1.0;rm", False), ("-x", False)])
def test_release_names_never_leave_releases(name, ok):
    assert release.is_release_name(name) is ok
