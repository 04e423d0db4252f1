# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The contract of a db_backup engine: what the base class does for every engine, what each does.

The base class owns everything that makes a backup trustworthy whatever the datastore: the hidden
partial name, removing it when anything fails, private modes, fsync, the checksum, the atomic
rename to the final name and the manifest's common fields. An engine (one file beside this one,
one line in backup_registry) only writes its backup to the path it is given, reads it back,
restores it, and says in check mode what it would run, without secrets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.medops.runbook.plugins.module_utils import backup_manifest as bm
from ansible_collections.medops.runbook.plugins.module_utils import fileutils


class BackupEngine(object):
    """Base class of the engines selected by db_backup's ``engine`` option."""

    #: The ``engine`` option's value, and the manifest's ``engine`` field.
    name = None
    #: The backup file's suffix (engines whose suffix depends on an option override ``suffix``).
    SUFFIX = ""
    #: (pip name, import traceback or None) of a Python library the engine needs, or None.
    library = None
    #: Whether backups belong to one database (pruning and picking the newest then match on it).
    per_database = True
    #: Options of other engines that a user may still pass to this one (with a warning that says
    #: what this engine uses instead): ``module_defaults`` of a group may set them for every call.
    unused_options = ()
    unused_hint = ""

    def __init__(self, params):
        self.params = params

    # -- what an engine provides -----------------------------------------------------------
    @classmethod
    def problems(cls, params):
        """This engine's input problems, one sentence each, before anything runs."""
        if params.get("format") == "directory":
            return ["format=directory applies to engine=postgresql only"]
        return []

    @classmethod
    def suffix(cls, params):
        return cls.SUFFIX

    @property
    def database(self):
        return self.params.get("database") if self.per_database else None

    def plan_dump(self, final):
        """Check mode: what a dump to ``final`` would run, as a list of strings free of secrets."""
        raise NotImplementedError

    def write(self, partial):
        """Write the backup at ``partial`` (a new file or directory) and return the manifest fields
        that only this engine knows (server and tool versions, row counts, ...)."""
        raise NotImplementedError

    def verify(self, backup, manifest, restore_check):
        """The list of checks (``backup_manifest.check``) of ``backup``, the checksum first."""
        raise NotImplementedError

    def restore(self, backup, manifest, target):
        """Restore into ``target``; returns at least ``checks`` (and ``created_database``)."""
        raise bm.BackupError("state=restored is not supported for engine=%s" % self.name)

    # -- what the base class does for every engine -----------------------------------------
    def dump(self, final):
        """Write a complete backup under ``final`` and its manifest; nothing under a final name
        otherwise, and no partial file left behind."""
        partial = bm.partial_path(final)
        started = bm.utcnow()
        try:
            fields = self.write(partial)
            seal(partial)
            digest, size = fileutils.sha256_path(partial)
            fileutils.atomic_rename(partial, final)
        except BaseException:
            discard(partial)
            raise
        manifest = self.common_manifest(final, started, bm.utcnow(), digest, size)
        manifest.update(fields)
        bm.write_manifest(final, manifest)
        return manifest

    def common_manifest(self, final, started, finished, digest, size):
        return {
            "manifest_version": bm.MANIFEST_VERSION, "engine": self.name, "clinic": self.params.get("clinic"),
            "database": self.database, "started_at": bm.iso(started), "finished_at": bm.iso(finished),
            "duration_seconds": round((finished - started).total_seconds(), 3), "file": os.path.basename(final),
            "bytes": size, "sha256": digest, "sha256_kind": "tree" if os.path.isdir(final) else "file",
        }

    @staticmethod
    def create_partial(partial):
        """A new private (0600) binary file at ``partial``; fails if anything is there already."""
        return os.fdopen(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


def seal(path):
    """Private modes (a backup holds patient data) and everything on disk before the rename."""
    if os.path.isdir(path):
        os.chmod(path, 0o700)
        for root, dirs, files in os.walk(path):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o700)
            for name in files:
                os.chmod(os.path.join(root, name), 0o600)
        fileutils.fsync_tree(path)
    else:
        os.chmod(path, 0o600)
        fileutils.fsync_path(path)


def discard(partial):
    if os.path.lexists(partial):
        fileutils.remove_path(partial)
