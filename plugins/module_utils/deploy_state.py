# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""State a deploy keeps on each host: the deploy lock and the append-only deployment record.

Both are plain files so that an operator can read them with ``cat`` at 2 a.m.: the lock is one
JSON object; the record is JSON lines, each entry carrying the sha256 of the previous one, so an
edited or removed line breaks the chain and shows.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import json
import os
import time

from ansible_collections.medops.runbook.plugins.module_utils import fileutils

GENESIS_HASH = "0" * 64


class DeployStateError(Exception):
    """A lock or record problem the operator must act on; the message says what and how."""


def require_parent_directory(path, what):
    """Raise DeployStateError unless the directory that will hold ``path`` exists."""
    directory = os.path.dirname(path) or "."
    if not os.path.isdir(directory):
        raise DeployStateError("the directory of the %s does not exist: %s" % (what, directory))


def state_file_argument_spec(states, **options):
    """``path`` and ``state`` (the first of ``states`` by default), the options of every module that
    keeps one deploy state file, with the module's own ``options``."""
    spec = dict(path=dict(type="path", required=True), state=dict(type="str", choices=list(states), default=states[0]))
    spec.update(options)
    return spec


def exit_with(module, what, work):
    """Exit ``module`` with the result of ``work()`` on its state file (``what`` names it), whose
    directory must exist; a DeployStateError fails the task, naming the file."""
    path = module.params["path"]
    try:
        require_parent_directory(path, what)
        result = work()
    except DeployStateError as exc:
        module.fail_json(msg=str(exc), path=path)
    module.exit_json(**result)


def _utc(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _replace(path, data):
    tmp = "%s.%d.tmp" % (path, os.getpid())
    fileutils.write_synced(tmp, data, os.O_CREAT | os.O_TRUNC)
    os.rename(tmp, path)


class DeployLock(object):
    """A lock file naming its holder, run id and time. A lock older than ``stale_after`` seconds
    is stale: it is reported, and broken only when the caller asks for it."""

    def __init__(self, path, now=time.time):
        self.path = path
        self._now = now

    def read(self):
        try:
            with open(self.path) as handle:
                content = handle.read()
        except IOError as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise DeployStateError("cannot read the deploy lock %s: %s" % (self.path, exc))
        try:
            lock = json.loads(content)
            float(lock["acquired_epoch"])
        except (ValueError, KeyError, TypeError):
            # An unreadable lock is still a lock: someone wrote it. Treat it as held since its mtime.
            lock = {"holder": "unknown (unreadable lock file)", "run_id": "unknown",
                    "acquired_epoch": os.stat(self.path).st_mtime}
        lock["age_seconds"] = round(self._now() - float(lock["acquired_epoch"]), 1)
        return lock

    def describe(self, lock):
        return "held by %s (run %s) since %s, %d minutes ago" % (
            lock.get("holder"), lock.get("run_id"), _utc(float(lock["acquired_epoch"])), lock["age_seconds"] // 60)

    def acquire(self, holder, run_id, stale_after, break_stale=False, check_mode=False):
        """Take the lock. Returns a result dict; raises DeployStateError when someone else holds it."""
        current = self.read()
        result = {"path": self.path, "previous": current, "broke_stale": False}
        if current is not None and current.get("run_id") == run_id:
            result.update(changed=False, lock=current)
            return result
        if current is not None:
            stale = current["age_seconds"] > stale_after
            if not stale:
                raise DeployStateError("deploy lock %s is %s; wait for that run to finish" % (self.path, self.describe(current)))
            if not break_stale:
                raise DeployStateError(
                    "deploy lock %s is stale: %s (older than %d minutes). Check that run is really gone "
                    "(see the deployment record for an interrupted run), then break the lock on request "
                    "(break_stale=true; in the deploy playbook -e deploy_break_stale_lock=true)"
                    % (self.path, self.describe(current), stale_after // 60))
            result["broke_stale"] = True
        lock = {"holder": holder, "run_id": run_id, "acquired_epoch": self._now(), "pid": os.getpid()}
        lock["acquired_at"] = _utc(lock["acquired_epoch"])
        result.update(changed=True, lock=lock)
        if check_mode:
            return result
        data = json.dumps(lock, sort_keys=True) + "\n"
        if current is None:
            try:
                # O_EXCL: created only if it does not exist, atomically on POSIX.
                fileutils.write_synced(self.path, data, os.O_CREAT | os.O_EXCL)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise DeployStateError("cannot create the deploy lock %s: %s" % (self.path, exc))
                winner = self.read() or {}
                raise DeployStateError("deploy lock %s was taken at the same moment by %s (run %s)"
                                       % (self.path, winner.get("holder"), winner.get("run_id")))
        else:
            _replace(self.path, data)
        return result

    def release(self, run_id, force=False, check_mode=False):
        """Remove the lock if this run holds it (or ``force``). Another run's lock is left alone."""
        current = self.read()
        result = {"path": self.path, "previous": current, "changed": False, "held_by_other": False}
        if current is None:
            return result
        if current.get("run_id") != run_id and not force:
            result["held_by_other"] = True
            return result
        result["changed"] = True
        if not check_mode:
            try:
                os.unlink(self.path)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise DeployStateError("cannot remove the deploy lock %s: %s" % (self.path, exc))
        return result


def entry_hash(entry):
    """sha256 over the entry's canonical JSON, without its own ``hash`` field."""
    body = dict((k, v) for k, v in entry.items() if k != "hash")
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


class DeploymentRecord(object):
    """Append-only JSON-lines log of deploys on one host, hash-chained.

    A run appends a ``started`` entry before it changes anything and a ``finished`` entry (with
    its outcome) at the end; a ``started`` without a ``finished`` is an interrupted run. A
    ``notified`` entry after the ``finished`` one says which notifications reached their targets.
    """

    PHASES = ("started", "finished", "notified")

    def __init__(self, path, now=time.time):
        self.path = path
        self._now = now

    def entries(self):
        try:
            with open(self.path) as handle:
                lines = [line for line in handle.read().splitlines() if line.strip()]
        except IOError as exc:
            if exc.errno == errno.ENOENT:
                return []
            raise DeployStateError("cannot read the deployment record %s: %s" % (self.path, exc))
        entries = []
        for number, line in enumerate(lines, 1):
            try:
                entries.append(json.loads(line))
            except ValueError:
                entries.append({"_unparsable_line": number})
        return entries

    @staticmethod
    def verify_chain(entries):
        """Return (valid, index of the first bad entry or None)."""
        previous = GENESIS_HASH
        for index, entry in enumerate(entries):
            if "_unparsable_line" in entry or entry.get("prev_hash") != previous or entry.get("hash") != entry_hash(entry):
                return False, index
            previous = entry["hash"]
        return True, None

    def summary(self, current_version=None, recent=0):
        """What the record says (see deploy_record's RETURN); ``recent`` newest entries included."""
        entries = self.entries()
        valid, broken_at = self.verify_chain(entries)
        finished = dict((e.get("run_id"), e) for e in entries if e.get("phase") == "finished")
        interrupted = [e for e in entries if e.get("phase") == "started" and e.get("run_id") not in finished]
        successes = [e for e in entries if e.get("phase") == "finished" and e.get("outcome") == "success"]
        return {
            "path": self.path,
            "entries": len(entries),
            "chain_valid": valid,
            "chain_broken_at": broken_at,
            "last": entries[-1] if entries else None,
            "last_success": successes[-1] if successes else None,
            "good_versions": _unique([e.get("version_to") for e in successes if e.get("version_to")]),
            "bad_versions": _unique([e.get("version_to") for e in finished.values()
                                     if e.get("outcome") in ("rolled_back", "failed") and e.get("version_to")]),
            "interrupted": interrupted,
            "rollback_target": _rollback_target(entries, current_version),
            "recent_entries": entries[-recent:] if recent > 0 else [],
        }

    def append(self, fields, phase, check_mode=False):
        if phase not in self.PHASES:
            raise DeployStateError("phase must be one of %s, got %r" % (", ".join(self.PHASES), phase))
        entries = self.entries()
        valid, broken_at = self.verify_chain(entries)
        if not valid:
            raise DeployStateError(
                "the deployment record %s has been altered at entry %d: its hash chain no longer holds. "
                "Keep the file as evidence, move it aside, and start a new record" % (self.path, broken_at + 1))
        entry = dict(fields)
        entry.update(phase=phase, seq=len(entries) + 1, recorded_at=_utc(self._now()),
                     prev_hash=entries[-1]["hash"] if entries else GENESIS_HASH)
        entry["hash"] = entry_hash(entry)
        if not check_mode:
            fileutils.write_synced(self.path, json.dumps(entry, sort_keys=True) + "\n", os.O_CREAT | os.O_APPEND, 0o640)
        return entry


def _rollback_target(entries, current_version):
    """The newest release known good that is not live now and never failed later.

    A release is known good when a deploy of it succeeded, or when a successful deploy started
    from it (preflight found it live and healthy), which covers the first release of a host
    that was installed before the record began.
    """
    latest_outcome = {}
    for entry in entries:
        if entry.get("phase") == "finished" and entry.get("version_to"):
            latest_outcome[entry["version_to"]] = entry.get("outcome")
    for entry in reversed(entries):
        if entry.get("phase") != "finished" or entry.get("outcome") != "success":
            continue
        for version in (entry.get("version_to"), entry.get("version_from")):
            if version and version != current_version and latest_outcome.get(version, "success") == "success":
                return version
    return None


def _unique(items):
    seen = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen
