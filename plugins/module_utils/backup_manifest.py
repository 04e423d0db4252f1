# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every db_backup engine shares: names, manifests, leftovers, checks and retention.

Layout of a backup directory (``dest``)::

    kin-postgresql-20261123T085600Z.dump                  the backup (a file or a directory)
    kin-postgresql-20261123T085600Z.dump.manifest.json    what it holds, written after the backup
    kin-postgresql-20261123T085600Z.dump.verified.json    written when state=verified passed
    .db_backup-partial-4242-kin-postgresql-....dump       in progress (pid 4242); never a final name

A backup without its manifest is not a backup: the manifest is written last, so a crash between
the two leaves an orphan that listing ignores and leftover cleanup removes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import os
import re
import subprocess

from ansible_collections.medops.runbook.plugins.module_utils import fileutils

MANIFEST_SUFFIX = ".manifest.json"
VERIFIED_SUFFIX = ".verified.json"
PARTIAL_PREFIX = ".db_backup-partial-"
MANIFEST_VERSION = 1
_PARTIAL_RE = re.compile(r"^%s(\d+)-" % re.escape(PARTIAL_PREFIX))
_LABEL_RE = re.compile(r"[^A-Za-z0-9_.-]+")


class BackupError(Exception):
    """A backup operation failed; the message says which step and why (never a secret)."""


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


def safe_label(text):
    """A file-name-safe form of a clinic or database name (any byte a shell cares about replaced)."""
    label = _LABEL_RE.sub("_", text or "").strip("._-")
    return label[:60] or "backup"


def backup_name(label, engine, moment, suffix):
    return "%s-%s-%s%s" % (safe_label(label), engine, moment.strftime("%Y%m%dT%H%M%S%fZ"), suffix)


def final_path(dest, label, engine, moment, suffix):
    """A final path that no backup, manifest or partial file uses yet."""
    path = os.path.join(dest, backup_name(label, engine, moment, suffix))
    if os.path.lexists(path) or os.path.lexists(path + MANIFEST_SUFFIX):
        raise BackupError("%s already exists; refusing to overwrite a backup" % path)
    return path


def partial_path(final, pid=None):
    """Where a backup is written until it is complete: hidden, marked with the writer's pid."""
    directory, name = os.path.split(final)
    return os.path.join(directory, "%s%d-%s" % (PARTIAL_PREFIX, pid or os.getpid(), name))


def manifest_path(backup):
    return backup.rstrip("/") + MANIFEST_SUFFIX


def verified_path(backup):
    return backup.rstrip("/") + VERIFIED_SUFFIX


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def find_leftovers(dest):
    """Partial files of runs that are gone (their pid is dead), plus manifest-less orphans' temp
    manifests. A partial file of a live run (another backup in progress) is left alone."""
    found = []
    if not os.path.isdir(dest):
        return found
    for name in sorted(os.listdir(dest)):
        match = _PARTIAL_RE.match(name)
        if match and not _pid_alive(int(match.group(1))):
            found.append(os.path.join(dest, name))
        elif name.startswith(".") and name.endswith(".tmp") and (MANIFEST_SUFFIX + "." in name or VERIFIED_SUFFIX + "." in name):
            # fileutils.atomic_write's temp of a manifest or verification record: ".<name>.<random>.tmp".
            found.append(os.path.join(dest, name))
    return found


def clean_leftovers(dest, check_mode):
    """Remove what find_leftovers finds (not in check mode); returns [{path, bytes}]."""
    removed = []
    for path in find_leftovers(dest):
        size = fileutils.path_size(path) if os.path.lexists(path) else 0
        if not check_mode:
            fileutils.remove_path(path)
        removed.append({"path": path, "bytes": size})
    return removed


def write_manifest(backup, manifest):
    fileutils.atomic_write(manifest_path(backup), json.dumps(manifest, indent=2, sort_keys=True) + "\n", 0o600)


def read_json(path, what):
    try:
        with open(path) as handle:
            data = json.load(handle)
    except (OSError, ValueError) as exc:
        raise BackupError("cannot read the %s %s: %s" % (what, path, exc))
    if not isinstance(data, dict):
        raise BackupError("the %s %s is not a JSON object" % (what, path))
    return data


def read_manifest(backup):
    path = manifest_path(backup)
    if not os.path.exists(path):
        raise BackupError("%s has no manifest (%s): it is not a complete db_backup backup" % (backup, path))
    manifest = read_json(path, "manifest")
    for key in ("engine", "sha256", "bytes", "finished_at"):
        if key not in manifest:
            raise BackupError("the manifest %s lacks '%s'" % (path, key))
    return manifest


def list_backups(dest, engine=None, clinic=None, database=None):
    """Complete backups in ``dest`` (those with a manifest), newest first."""
    found = []
    if not os.path.isdir(dest):
        return found
    for name in os.listdir(dest):
        if not name.endswith(MANIFEST_SUFFIX) or name.startswith("."):
            continue
        backup = os.path.join(dest, name[:-len(MANIFEST_SUFFIX)])
        if not os.path.lexists(backup):
            continue
        try:
            manifest = read_manifest(backup)
        except BackupError:
            continue
        if engine and manifest.get("engine") != engine:
            continue
        if clinic and manifest.get("clinic") not in (None, clinic):
            continue
        if database and manifest.get("database") != database:
            continue
        found.append({"path": backup, "manifest": manifest, "verified": read_verified(backup)})
    found.sort(key=lambda item: (item["manifest"]["finished_at"], item["path"]), reverse=True)
    return found


def newest_backup(dest, engine, clinic=None, database=None):
    backups = list_backups(dest, engine, clinic, database)
    if not backups:
        scope = ", ".join("%s=%s" % kv for kv in (("engine", engine), ("clinic", clinic), ("database", database)) if kv[1])
        raise BackupError("no complete backup in %s (%s)" % (dest, scope))
    return backups[0]["path"]


def read_verified(backup):
    path = verified_path(backup)
    if not os.path.exists(path):
        return None
    try:
        return read_json(path, "verification record")
    except BackupError:
        return None


def record_verified(backup, manifest, checks):
    """Note that ``backup`` passed verification (pruning never removes the newest such backup)."""
    record = {"verified_at": iso(utcnow()), "sha256": manifest.get("sha256"), "checks": [c["name"] for c in checks]}
    fileutils.atomic_write(verified_path(backup), json.dumps(record, indent=2, sort_keys=True) + "\n", 0o600)
    return record


def check(name, ok, detail):
    return {"name": name, "ok": bool(ok), "detail": detail}


def checksum_check(backup, manifest):
    """Recompute the backup's sha256 and size and compare them with the manifest."""
    if not os.path.lexists(backup):
        return check("checksum", False, "%s does not exist" % backup)
    digest, size = fileutils.sha256_path(backup)
    if size != manifest.get("bytes"):
        return check("checksum", False, "size is %d bytes, the manifest says %s (truncated or appended?)" % (size, manifest.get("bytes")))
    if digest != manifest.get("sha256"):
        return check("checksum", False, "sha256 is %s, the manifest says %s (the content changed)" % (digest, manifest.get("sha256")))
    return check("checksum", True, "sha256 %s and %d bytes match the manifest" % (digest, size))


def compare_counts(expected, actual):
    """Per-table comparison: {table: {expected, actual, ok}} and whether everything matched."""
    tables = {}
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        tables[table] = {"expected": want, "actual": got, "ok": want == got}
    return tables, all(item["ok"] for item in tables.values())


def count_check(name, expected, actual):
    tables, ok = compare_counts(expected, actual)
    bad = ["%s (manifest %s, restored %s)" % (t, v["expected"], v["actual"]) for t, v in tables.items() if not v["ok"]]
    detail = ("%d tables, every row count equals the manifest" % len(tables)) if ok else "row counts differ: " + "; ".join(bad[:20])
    result = check(name, ok, detail)
    result["tables"] = tables
    return result


def prune_plan(backups, keep_last, max_age_days, now):
    """Split ``backups`` (newest first) into kept and removed, each with its reason.

    A backup is kept when it is among the ``keep_last`` newest, or younger than ``max_age_days``,
    or it is the newest one that passed verification (the one a restore would rely on)."""
    newest_verified = next((b["path"] for b in backups if b.get("verified") is not None), None)
    keep, remove = [], []
    for index, item in enumerate(backups):
        age_days = (now - parse_iso(item["manifest"]["finished_at"])).total_seconds() / 86400.0
        reasons = []
        if keep_last is not None and index < keep_last:
            reasons.append("among the %d newest" % keep_last)
        if max_age_days is not None and age_days < max_age_days:
            reasons.append("younger than %s days" % max_age_days)
        if item["path"] == newest_verified:
            reasons.append("newest verified backup")
        entry = {"path": item["path"], "age_days": round(age_days, 3), "bytes": item["manifest"].get("bytes")}
        if reasons:
            entry["reason"] = ", ".join(reasons)
            keep.append(entry)
        else:
            remove.append(entry)
    return keep, remove


def remove_backup(path):
    """Remove a backup: the manifest first, so a half-removed backup is never listed as complete."""
    for extra in (manifest_path(path), verified_path(path)):
        if os.path.lexists(extra):
            os.unlink(extra)
    if os.path.lexists(path):
        fileutils.remove_path(path)
    fileutils.fsync_path(os.path.dirname(os.path.abspath(path)))


def set_parent_death_signal():
    """preexec_fn: the child dies with the module (SIGKILL), so a killed run leaves no orphan
    pg_dump still writing into the backup directory."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except Exception:  # pylint: disable=broad-except
        pass  # not Linux: the child outlives a killed module, cleanup still removes its output


def run_tool(argv, env=None, timeout=None, stdout=subprocess.PIPE):
    """Run a client tool (argv list, never a shell). Returns (rc, stdout text, stderr text)."""
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, env=env,
                                preexec_fn=set_parent_death_signal)
    except OSError as exc:
        raise BackupError("cannot run %s: %s" % (argv[0], exc))
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise BackupError("%s did not finish within %s seconds" % (os.path.basename(argv[0]), timeout))
    return proc.returncode, _text(out), _text(err)


def _text(data):
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else (data or "")


def tail(text, lines=15):
    return "\n".join((text or "").strip().splitlines()[-lines:])
