# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Crash-safe file helpers shared by the modules: atomic writes, fsync, rename and sha256.

A file that carries its final name is always complete: content goes to a temporary name in the
same directory, is fsynced, renamed over the final name, and the directory is fsynced so the
rename itself survives a power loss. Checksums read in fixed-size chunks, never a whole file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import shutil
import tempfile

CHUNK = 1024 * 1024


def fsync_path(path):
    """Flush a file's (or a directory's) data and metadata to disk."""
    flags = os.O_RDONLY
    if os.path.isdir(path):
        flags |= getattr(os, "O_DIRECTORY", 0)
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(path):
    """fsync every file and directory below ``path`` (a directory-format backup), then ``path``."""
    for root, dirs, files in os.walk(path):
        for name in files:
            fsync_path(os.path.join(root, name))
        fsync_path(root)


def write_synced(path, data, flags, mode=0o600):
    """Open ``path`` for writing with the extra open ``flags`` (``os.O_CREAT | os.O_EXCL`` to create
    it only if it is new, ``os.O_CREAT | os.O_APPEND`` to append, ...) and ``mode`` for a new file,
    write ``data`` (bytes or text) and fsync it before closing."""
    if not isinstance(data, bytes):
        data = data.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | flags, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_rename(src, dst):
    """Rename ``src`` over ``dst`` and make the rename durable (fsync of the parent directory)."""
    os.rename(src, dst)
    fsync_path(os.path.dirname(os.path.abspath(dst)) or ".")


def atomic_write(path, data, mode=0o600):
    """Write ``data`` (bytes or text) to ``path`` atomically with permissions ``mode``."""
    if not isinstance(data, bytes):
        data = data.encode("utf-8")
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        atomic_rename(tmp, path)
    except BaseException:
        _remove_quietly(tmp)
        raise


def _remove_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def remove_path(path):
    """Remove a file, a symlink or a whole directory tree. Returns the bytes it freed."""
    size = path_size(path)
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    return size


def path_size(path):
    """Bytes in a file, or in every file below a directory."""
    if os.path.isdir(path) and not os.path.islink(path):
        total = 0
        for root, _dirs, files in os.walk(path):
            total += sum(os.lstat(os.path.join(root, name)).st_size for name in files)
        return total
    return os.lstat(path).st_size


class HashingWriter(object):
    """Writes chunks to a file object while computing their sha256 and counting bytes."""

    def __init__(self, handle):
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk):
        self.digest.update(chunk)
        self.handle.write(chunk)
        self.size += len(chunk)

    def hexdigest(self):
        return self.digest.hexdigest()


def copy_stream(src, writer, chunk=CHUNK):
    """Copy a binary stream into ``writer`` chunk by chunk; nothing is held beyond one chunk."""
    read = getattr(src, "read1", src.read)
    while True:
        block = read(chunk)
        if not block:
            return
        writer.write(block)


def sha256_file(path, chunk=CHUNK):
    """(sha256 hex, size) of one file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(chunk)
            if not block:
                break
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def sha256_tree(path, chunk=CHUNK):
    """(sha256 hex, size) of a directory: the digest of its sorted "<file sha256>  <relative path>"
    lines, so renaming, adding, removing or changing any file changes it."""
    lines = []
    total = 0
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            digest, size = sha256_file(full, chunk)
            total += size
            lines.append("%s  %s\n" % (digest, os.path.relpath(full, path).replace(os.sep, "/")))
    lines.sort(key=lambda line: line[66:])
    return hashlib.sha256("".join(lines).encode("utf-8")).hexdigest(), total


def sha256_path(path, chunk=CHUNK):
    """sha256 and size of a file or of a directory tree (see sha256_tree)."""
    if os.path.isdir(path):
        return sha256_tree(path, chunk)
    return sha256_file(path, chunk)


def ensure_private_dir(path, mode=0o700):
    """Create ``path`` (and parents) if missing; returns True when it created it.

    An existing directory keeps its permissions: it may be shared (e.g. a clinic's backup dir)."""
    if os.path.isdir(path):
        return False
    os.makedirs(path, mode)
    os.chmod(path, mode)
    return True
