# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A clinic's release tree: ``<app_root>/releases/<version>`` and the ``current`` link.

The rules every caller relies on (the deploy's ship, switch and prune steps, the rollback):

- ``releases/<version>`` is always whole: a release is unpacked under ``.<version>.staging``, marked
  with ``.medops-complete`` (its sha256), then renamed into place. A directory without the mark is
  an interrupted earlier attempt and is replaced.
- A tarball is unpacked only after its sha256 matched, and only members that stay inside the
  release (no absolute paths, no ``..``, no links out of it, no devices).
- ``current`` is replaced by renaming a new link over it, so it always points at a whole release.
- A release marked ``.medops-bad`` failed on this host; the deploy refuses it until it is cleared.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import stat
import tarfile
import tempfile

from ansible_collections.medops.runbook.plugins.module_utils.fileutils import (
    atomic_rename, copy_stream, fsync_path, remove_path, sha256_file)

COMPLETE_MARK = ".medops-complete"
BAD_MARK = ".medops-bad"
_RELEASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def is_release_name(version):
    """A name a release directory, image tag or label may carry: letters, digits, '.', '_', '+', '-',
    starting with a letter or digit, never '..' (so it can never leave releases/)."""
    return bool(_RELEASE_NAME.match(version or "")) and ".." not in version


class ReleaseError(Exception):
    """A release that cannot be shipped, activated or pruned; the message says why."""


def disk_usage(path):
    """``(free_mb, used_percent)`` of the file system under ``path``, as ``df -P`` reports them:
    MiB available to an unprivileged user (Available), and the blocks in use as a share of those in
    use plus those available, rounded up (Capacity: root's reserve counts as neither)."""
    try:
        info = os.statvfs(path)
    except OSError as exc:
        raise ReleaseError("cannot measure free space under %s: %s" % (path, exc.strerror))
    used = info.f_blocks - info.f_bfree
    usable = used + info.f_bavail
    used_percent = -(-used * 100 // usable) if usable else 0
    return info.f_bavail * info.f_frsize // (1024 * 1024), used_percent


def free_mb(path):
    """MiB available to an unprivileged user under ``path`` (what ``df -P`` calls Available)."""
    return disk_usage(path)[0]


def normalise_checksum(checksum):
    """``sha256:<hex>`` or ``<hex>`` to lower-case hex; anything else is an error."""
    value = (checksum or "").strip().lower()
    if value.startswith("sha256:"):
        value = value[len("sha256:"):]
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ReleaseError("checksum must be sha256:<64 hex digits> or 64 hex digits, got %r" % (checksum,))
    return value


def check_members(archive, dest):
    """The archive's members, refusing any that would land outside ``dest`` or are not plain files,
    directories or links inside it."""
    root = os.path.realpath(dest)
    members = archive.getmembers()
    for member in members:
        name = member.name
        target = os.path.realpath(os.path.join(root, name))
        if os.path.isabs(name) or ".." in name.split("/") or not _inside(target, root):
            raise ReleaseError("the archive's member %r would land outside the release" % name)
        if member.issym() or member.islnk():
            base = root if member.islnk() else os.path.dirname(target)
            if os.path.isabs(member.linkname) or not _inside(os.path.realpath(os.path.join(base, member.linkname)), root):
                raise ReleaseError("the archive's link %r points outside the release (%r)" % (name, member.linkname))
        elif not (member.isfile() or member.isdir()):
            raise ReleaseError("the archive's member %r is neither a file, a directory nor a link" % name)
    return members


def _inside(path, root):
    return path == root or path.startswith(root + os.sep)


def extract(tarball, dest):
    """Unpack ``tarball`` (any compression tarfile reads) into the directory ``dest``."""
    try:
        with tarfile.open(tarball) as archive:
            members = check_members(archive, dest)
            if hasattr(tarfile, "data_filter"):
                archive.extractall(dest, members=members, filter="tar")  # pylint: disable=unexpected-keyword-arg
            else:
                archive.extractall(dest, members=members)
    except (tarfile.TarError, EOFError) as exc:
        raise ReleaseError("%s is not a readable tar archive: %s" % (tarball, exc))


def replace_link(target, link):
    """Point ``link`` at ``target`` by renaming a new link over it; True when it changed."""
    try:
        if os.readlink(link) == target:
            return False
    except OSError:
        pass
    tmp = "%s.medops-%d" % (link, os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    os.symlink(target, tmp)
    atomic_rename(tmp, link)
    return True


class ReleaseTree(object):
    """The releases of one application root, and what is live."""

    def __init__(self, app_root):
        self.app_root = app_root
        self.releases = os.path.join(app_root, "releases")
        self.current = os.path.join(app_root, "current")

    def path(self, version):
        return os.path.join(self.releases, version)

    def live(self):
        """The live release's name ('' when ``current`` is missing or not a link)."""
        try:
            return os.path.basename(os.readlink(self.current).rstrip("/"))
        except OSError:
            return ""

    def complete(self, version):
        return os.path.isfile(os.path.join(self.path(version), COMPLETE_MARK))

    def bad_mark(self, version):
        """Why the release was marked bad on this host ('' when it was not)."""
        try:
            with open(os.path.join(self.path(version), BAD_MARK), "rb") as handle:
                return handle.read(2000).decode("utf-8", "replace").strip() or "marked bad"
        except (IOError, OSError):
            return ""

    def names(self):
        """Release directories, newest first by modification time (hidden staging names excluded)."""
        try:
            entries = [e for e in os.listdir(self.releases) if not e.startswith(".")]
        except OSError:
            return []
        infos = [(os.lstat(self.path(e)), e) for e in entries]
        return [name for info, name in sorted(infos, key=lambda pair: pair[0].st_mtime, reverse=True) if stat.S_ISDIR(info.st_mode)]

    # -- ship ---------------------------------------------------------------------------------
    def unpack(self, version, tarball, sha256):
        """Check ``tarball`` against ``sha256``, unpack it as ``releases/<version>`` (whole or not at all)."""
        actual = sha256_file(tarball)[0]
        if actual != sha256:
            raise ReleaseError("%s: sha256 %s does not match the expected %s; nothing was unpacked" % (tarball, actual, sha256))
        staging = os.path.join(self.releases, ".%s.staging" % version)
        discard(staging)
        os.mkdir(staging, 0o755)
        try:
            extract(tarball, staging)
            with open(os.path.join(staging, COMPLETE_MARK), "w") as handle:
                handle.write(sha256 + "\n")
            fsync_path(staging)
            discard(self.path(version))  # an interrupted attempt's leftover: it has no complete mark
            atomic_rename(staging, self.path(version))
        except BaseException:
            discard(staging)
            raise

    def link_shared(self, version, shared_paths, check_mode=False):
        """Link each ``{src, dest}`` of ``shared/`` into the release; the names that changed."""
        changed = []
        for item in shared_paths:
            target = os.path.join(self.app_root, "shared", item["src"])
            link = os.path.join(self.path(version), item["dest"])
            if _link_target(link) != target:
                changed.append(item["dest"])
                if not check_mode:
                    if os.path.isdir(link) and not os.path.islink(link):
                        shutil.rmtree(link)
                    replace_link(target, link)
        return changed

    # -- switch and prune ----------------------------------------------------------------------
    def activate(self, version, check_mode=False):
        """Point ``current`` at the release; True when it changed."""
        # Not the complete mark: a release installed before this collection managed the host has none.
        # In check mode the release may be one the same run would have shipped.
        if not check_mode and not os.path.isdir(self.path(version)):
            raise ReleaseError("%s does not exist: ship the release first" % self.path(version))
        target = "releases/%s" % version
        if _link_target(self.current) == target:
            return False
        if not check_mode:
            replace_link(target, self.current)
        return True

    def prune(self, keep, protect, check_mode=False):
        """Remove all but the ``keep`` newest releases, never one named in ``protect``; the removed names."""
        doomed = [name for rank, name in enumerate(self.names()) if rank >= keep and name not in protect]
        if not check_mode:
            for name in doomed:
                discard(self.path(name))
        return doomed


def _link_target(path):
    try:
        return os.readlink(path)
    except OSError:
        return None


def discard(path):
    """Remove a file, link or tree if it is there."""
    if os.path.lexists(path):
        remove_path(path)


def download(fetch, url, dest_dir, version):
    """Stream ``url`` to a temporary file in ``dest_dir`` through ``fetch(url)`` (a file-like
    response) and return its path; the caller removes it."""
    fd, path = tempfile.mkstemp(prefix=".%s." % version, suffix=".tar.gz.part", dir=dest_dir)
    try:
        with os.fdopen(fd, "wb") as handle:
            copy_stream(fetch(url), handle)
    except BaseException:
        os.unlink(path)
        raise
    return path
