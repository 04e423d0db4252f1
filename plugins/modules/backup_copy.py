#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: backup_copy
short_description: Copy db_backup backups off the host (a backup host over SSH, or S3), check them there, prune and fetch them
version_added: "0.2.0"
description:
  - Works on the backups M(medops.runbook.db_backup) writes into O(dest) (a file and its manifest each) and their far
    copies on one O(target) - a directory on a backup host reached with OpenSSH, or an S3 bucket (AWS or S3-compatible).
  - A far copy is the backup and its manifest under the same names, the manifest sent last. Each reaches its final
    name only once complete with its sha256 checked at the far end (SSH - a temporary dot name, hashed there, then
    renamed; S3 - the object exists only once its upload completed, and the store checks the sha256 sent with it).
  - O(state=copied) sends every local backup that has no far copy with the same sha256 (nothing else is sent again),
    then checks every far copy of O(clinic) - the far end's bytes hashed against its manifest - and names any that
    differs or is missing. A differing far copy whose local backup is still there is sent again (RV(repaired)).
  - O(state=verified) only checks, and also names local backups that have no far copy.
  - O(state=pruned) applies the retention (O(retention_days), O(retention_weeks), O(retention_months)) to O(dest) and
    to the far end, per engine; the newest backup is always kept, and locally the newest verified one too.
  - O(state=listed) lists the far copies and the newest one's age, without reading their content (for health checks).
  - O(state=fetched) downloads one far copy (O(backup), default the newest) into O(dest) with its manifest, checks its
    sha256, and returns its path for M(medops.runbook.db_backup) O(medops.runbook.db_backup#module:state=restored).
  - Backups in the directory format are not copied (they are reported in RV(skipped)); use the custom format.
  - Credentials come from no_log options or boto3's usual sources (environment, instance profile) and never appear
    in results or on a command line; SSH uses a key file.
author:
  - medops.runbook contributors (@medops-runbook)
requirements:
  - OpenSSH's client (C(ssh)) for O(target=ssh); a POSIX shell and coreutils on the backup host
  - boto3 for O(target=s3)
extends_documentation_fragment:
  - medops.runbook.attributes
attributes:
  check_mode:
    support: full
    details: Lists and checks the far copies, reports what would be sent, removed or fetched; changes nothing.
  diff_mode:
    support: none
options:
  state:
    description: What to do.
    type: str
    choices: [copied, verified, pruned, listed, fetched]
    default: copied
  target:
    description: Where the far copies live.
    type: str
    choices: [ssh, s3]
    required: true
  dest:
    description: The local backup directory (as M(medops.runbook.db_backup)'s O(medops.runbook.db_backup#module:dest)).
    type: path
    required: true
  clinic:
    description: Only this clinic's backups (their manifests' C(clinic)) count, locally and at the far end.
    type: str
  engine:
    description: Only backups of this engine count. Default is every engine.
    type: str
    choices: [postgresql, mongodb, redis]
  backup:
    description: With O(state=fetched), the name of the far copy to fetch. Default is the newest one of O(clinic) and O(engine).
    type: str
  retention_days:
    description: With O(state=pruned), keep every backup younger than this many days.
    type: int
    default: 30
  retention_weeks:
    description: With O(state=pruned), also keep the newest backup of each of this many most recent weeks.
    type: int
    default: 0
  retention_months:
    description: With O(state=pruned), also keep the newest backup of each of this many most recent months.
    type: int
    default: 0
  fail_on_problems:
    description: Fail when a far copy differs or is missing and was not sent again in this run.
    type: bool
    default: true
  ssh_host:
    description: The backup host (O(target=ssh)).
    type: str
  ssh_port:
    description: Its SSH port.
    type: int
    default: 22
  ssh_user:
    description: The account on the backup host.
    type: str
  ssh_key_file:
    description: Private key file for the account.
    type: path
  ssh_known_hosts_file:
    description: Known hosts file holding the backup host's key (host keys are always checked strictly).
    type: path
  remote_dir:
    description: The directory on the backup host (created 0700 when missing). Required with O(target=ssh).
    type: str
  s3_bucket:
    description: The bucket (O(target=s3)).
    type: str
  s3_prefix:
    description: Key prefix of the copies, for example C(kin/).
    type: str
    default: ""
  s3_endpoint_url:
    description: An S3-compatible store's URL. Default is AWS.
    type: str
  s3_region:
    description: The bucket's region.
    type: str
  s3_access_key:
    description: Access key id. Default is boto3's usual sources (C(AWS_ACCESS_KEY_ID), a profile, an instance role).
    type: str
  s3_secret_key:
    description: Secret access key.
    type: str
  s3_session_token:
    description: Session token of temporary credentials.
    type: str
  s3_multipart_threshold:
    description: Files of this many bytes or more are sent as multipart uploads.
    type: int
    default: 67108864
  validate_certs:
    description: Check the S3 endpoint's TLS certificate.
    type: bool
    default: true
  timeout:
    description: SSH connect timeout in seconds.
    type: int
    default: 30
"""

EXAMPLES = r"""
- name: Send last night's backups to S3 and check every copy there
  medops.runbook.backup_copy:
    target: s3
    dest: /var/backups/clinic
    clinic: kin
    s3_bucket: clinic-backups
    s3_prefix: kin/
    s3_access_key: "{{ vault_backup_s3_access_key }}"
    s3_secret_key: "{{ vault_backup_s3_secret_key }}"

- name: The same on the backup host
  medops.runbook.backup_copy:
    target: ssh
    dest: /var/backups/clinic
    clinic: kin
    ssh_host: backup.internal
    ssh_user: backup
    ssh_key_file: /home/deploy/.ssh/backup_ed25519
    remote_dir: /srv/backups/kin

- name: Keep 30 days, 8 weeklies and 12 monthlies, here and on S3
  medops.runbook.backup_copy:
    state: pruned
    target: s3
    dest: /var/backups/clinic
    clinic: kin
    s3_bucket: clinic-backups
    s3_prefix: kin/
    retention_weeks: 8
    retention_months: 12

- name: Fetch the newest S3 copy back for a restore
  medops.runbook.backup_copy:
    state: fetched
    target: s3
    dest: /var/backups/restore
    clinic: kin
    engine: postgresql
    s3_bucket: clinic-backups
    s3_prefix: kin/
  register: fetched

- name: Restore it
  medops.runbook.db_backup:
    state: restored
    backup: "{{ fetched.backup }}"
    database: clinic_kin
    clinic: kin
"""

RETURN = r"""
target:
  description: Where the far copies are (no credentials).
  returned: always
  type: str
sent:
  description: Backups sent in this run (with their manifests), or that would be in check mode.
  returned: copied
  type: list
  elements: str
already_there:
  description: Local backups whose far copy has the same sha256, so not sent again.
  returned: copied
  type: list
  elements: str
repaired:
  description: Far copies that differed or were missing and were sent again.
  returned: copied
  type: list
  elements: str
far_problems:
  description: Each far copy that differs from its manifest or is missing, with C(name), C(problem) and C(detail).
  returned: copied, verified
  type: list
  elements: dict
far_checked:
  description: How many far copies were hashed at the far end.
  returned: copied, verified
  type: int
partials_removed:
  description: What interrupted earlier sends left at the far end and this run removed.
  returned: copied, pruned
  type: list
  elements: str
skipped:
  description: Local backups that cannot be copied (directory format) or whose local checksum fails, with the reason.
  returned: copied
  type: list
  elements: dict
removed_local:
  description: Local backups removed by the retention.
  returned: pruned
  type: list
  elements: str
removed_far:
  description: Far copies removed by the retention.
  returned: pruned
  type: list
  elements: str
copies:
  description: The far copies, newest first, with C(name), C(engine), C(finished_at) and C(bytes).
  returned: listed
  type: list
  elements: dict
newest:
  description: The newest far copy's C(name), C(finished_at) and C(age_hours); empty when there is none.
  returned: listed
  type: dict
backup:
  description: The local path of the fetched backup (its manifest beside it).
  returned: fetched
  type: str
manifest:
  description: The fetched backup's manifest.
  returned: fetched
  type: dict
elapsed:
  description: Seconds the module took.
  returned: always
  type: float
"""

import hashlib
import os
import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.medops.runbook.plugins.module_utils import backup_manifest as bm
from ansible_collections.medops.runbook.plugins.module_utils import copy_s3
from ansible_collections.medops.runbook.plugins.module_utils import copy_ssh
from ansible_collections.medops.runbook.plugins.module_utils import copy_target as ct
from ansible_collections.medops.runbook.plugins.module_utils import fileutils


def argument_spec():
    return dict(
        state=dict(type="str", default="copied", choices=["copied", "verified", "pruned", "listed", "fetched"]),
        target=dict(type="str", required=True, choices=["ssh", "s3"]),
        dest=dict(type="path", required=True),
        clinic=dict(type="str"),
        engine=dict(type="str", choices=["postgresql", "mongodb", "redis"]),
        backup=dict(type="str"),
        retention_days=dict(type="int", default=30),
        retention_weeks=dict(type="int", default=0),
        retention_months=dict(type="int", default=0),
        fail_on_problems=dict(type="bool", default=True),
        ssh_host=dict(type="str"),
        ssh_port=dict(type="int", default=22),
        ssh_user=dict(type="str"),
        ssh_key_file=dict(type="path", no_log=False),
        ssh_known_hosts_file=dict(type="path"),
        remote_dir=dict(type="str"),
        s3_bucket=dict(type="str"),
        s3_prefix=dict(type="str", default=""),
        s3_endpoint_url=dict(type="str"),
        s3_region=dict(type="str"),
        s3_access_key=dict(type="str", no_log=True),
        s3_secret_key=dict(type="str", no_log=True),
        s3_session_token=dict(type="str", no_log=True),
        s3_multipart_threshold=dict(type="int", default=64 * 1024 * 1024),
        validate_certs=dict(type="bool", default=True),
        timeout=dict(type="int", default=30),
    )


def validate(params):
    """Every input problem as one sentence, before anything connects."""
    problems = []
    if params["target"] == "ssh":
        problems += ["%s is required with target=ssh" % o for o in ("ssh_host", "remote_dir") if not params[o]]
    if params["target"] == "s3" and not params["s3_bucket"]:
        problems.append("s3_bucket is required with target=s3")
    for option in ("retention_days", "retention_weeks", "retention_months"):
        if params[option] < 0:
            problems.append("%s must be 0 or more, got %d" % (option, params[option]))
    if params["state"] == "pruned" and params["retention_days"] < 1:
        problems.append("retention_days must be 1 or more with state=pruned (0 would keep only the newest backup)")
    if params["s3_multipart_threshold"] < 5 * 1024 * 1024:
        problems.append("s3_multipart_threshold must be at least 5 MiB (S3's smallest part)")
    if not 0 < params["ssh_port"] < 65536:
        problems.append("ssh_port must be between 1 and 65535, got %d" % params["ssh_port"])
    if params["backup"] and params["state"] != "fetched":
        problems.append("backup applies to state=fetched only")
    if params["backup"] and (os.sep in params["backup"] or params["backup"].startswith(".")):
        problems.append("backup is the name of a far copy, not a path: %s" % params["backup"])
    return problems


def make_target(params):
    if params["target"] == "ssh":
        return copy_ssh.SshTarget(params["ssh_host"], params["remote_dir"], user=params["ssh_user"], port=params["ssh_port"],
                                  key_file=params["ssh_key_file"], known_hosts_file=params["ssh_known_hosts_file"],
                                  timeout=params["timeout"])
    return copy_s3.S3Target(params["s3_bucket"], prefix=params["s3_prefix"], endpoint_url=params["s3_endpoint_url"],
                            region=params["s3_region"], access_key=params["s3_access_key"], secret_key=params["s3_secret_key"],
                            session_token=params["s3_session_token"], validate_certs=params["validate_certs"],
                            multipart_threshold=params["s3_multipart_threshold"])


def local_backups(params):
    """Complete local backups (newest first) as {name, path, manifest, verified}."""
    found = bm.list_backups(params["dest"], params["engine"], params["clinic"]) if os.path.isdir(params["dest"]) else []
    return [dict(item, name=os.path.basename(item["path"])) for item in found]


def sendable(local):
    """Local backups that can go (a file whose sha256 still matches its manifest), and the others."""
    ready, skipped = [], []
    for item in local:
        if os.path.isdir(item["path"]):
            skipped.append({"name": item["name"], "reason": "directory-format backup (copies need one file)"})
            continue
        checked = bm.checksum_check(item["path"], item["manifest"])
        if checked["ok"]:
            ready.append(item)
        else:
            skipped.append({"name": item["name"], "reason": "local " + checked["detail"]})
    return ready, skipped


def send(target, item):
    """The backup, then its manifest: a far copy is complete only with its manifest."""
    manifest = bm.manifest_path(item["path"])
    target.clean_partials([item["name"], item["name"] + ct.MANIFEST_SUFFIX])
    target.put(item["path"], item["name"], item["manifest"]["sha256"])
    digest, _size = fileutils.sha256_path(manifest)
    target.put(manifest, item["name"] + ct.MANIFEST_SUFFIX, digest)


def check_far(target, params, local_names):
    far, problems = ct.far_copies(target, params["clinic"], params["engine"])
    actual = target.far_sha256([c["name"] for c in far])
    return far, problems + ct.check_plan(far, actual, local_names)


def do_copied(module, target, result):
    params = module.params
    ready, skipped = sendable(local_backups(params))
    far, problems = check_far(target, params, [])
    bad = set(p["name"] for p in problems)
    to_send, there = ct.send_plan(ready, [c for c in far if c["name"] not in bad])
    repaired = [name for name in to_send if name in bad]
    if not module.check_mode:
        by_name = dict((item["name"], item) for item in ready)
        for name in to_send:
            send(target, by_name[name])
    result.update(sent=to_send, already_there=there, repaired=repaired, skipped=skipped, far_problems=problems,
                  far_checked=len(far), changed=bool(to_send))
    return [p for p in problems if p["name"] not in repaired]


def do_verified(module, target, result):
    params = module.params
    far, problems = check_far(target, params, [item["name"] for item in local_backups(params)])
    result.update(far_problems=problems, far_checked=len(far))
    return problems


def do_pruned(module, target, result):
    params = module.params
    now = bm.utcnow()
    keep = dict(days=params["retention_days"], weeks=params["retention_weeks"], months=params["retention_months"])
    local = local_backups(params)
    _kept, removed_local = ct.retention_by_engine(local, now, protect=newest_verified(local), **keep)
    far, _problems = ct.far_copies(target, params["clinic"], params["engine"])
    _kept, removed_far = ct.retention_by_engine(far, now, **keep)
    local_gone = [r["name"] for r in removed_local]
    far_gone = [r["name"] for r in removed_far]
    if not module.check_mode:
        for name in local_gone:
            bm.remove_backup(os.path.join(params["dest"], name))
        # Manifests first, so a half-done removal never leaves a complete-looking copy.
        target.remove([n + ct.MANIFEST_SUFFIX for n in far_gone])
        target.remove(far_gone)
        result["partials_removed"] = target.clean_partials(far_gone)
    result.update(removed_local=local_gone, removed_far=far_gone, changed=bool(local_gone or far_gone))
    return []


def newest_verified(local):
    """The newest backup that passed db_backup's verification: the one a restore relies on."""
    return next((item["name"] for item in local if item["verified"] is not None), None)


def do_listed(module, target, result):
    params = module.params
    far, problems = ct.far_copies(target, params["clinic"], params["engine"])
    now = bm.utcnow()
    result["copies"] = [{"name": c["name"], "engine": c["manifest"].get("engine"), "finished_at": c["manifest"].get("finished_at"),
                         "bytes": c["bytes"]} for c in far]
    result["newest"] = {}
    if far:
        newest = far[0]
        result["newest"] = {"name": newest["name"], "finished_at": newest["manifest"].get("finished_at"),
                            "age_hours": ct.age_hours(newest["manifest"], now)}
    result["far_problems"] = problems
    return []


def do_fetched(module, target, result):
    params = module.params
    far, _problems = ct.far_copies(target, params["clinic"], params["engine"])
    wanted = params["backup"]
    copy = next((c for c in far if c["name"] == wanted), None) if wanted else (far[0] if far else None)
    if copy is None:
        raise ct.CopyError("no far copy %s on %s" % (repr(wanted) if wanted else "of clinic %s" % params["clinic"], target.describe()))
    final = os.path.join(params["dest"], copy["name"])
    result.update(backup=final, manifest=copy["manifest"])
    if os.path.exists(bm.manifest_path(final)) and bm.checksum_check(final, copy["manifest"])["ok"]:
        result["msg"] = "%s is already here with the right sha256" % final
        return []
    result["changed"] = True
    if module.check_mode:
        result["msg"] = "would fetch %s from %s" % (copy["name"], target.describe())
        return []
    fileutils.ensure_private_dir(params["dest"])
    download(target, copy, final)
    bm.write_manifest(final, copy["manifest"])
    result["msg"] = "fetched %s from %s, sha256 checked" % (copy["name"], target.describe())
    return []


def download(target, copy, final):
    """To db_backup's partial name (its leftover cleanup knows it), hashed on the way, renamed when right."""
    partial = bm.partial_path(final)
    digest = hashlib.sha256()
    try:
        with open(partial, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            target.fetch(copy["name"], _Tee(handle, digest))
            handle.flush()
            os.fsync(handle.fileno())
        if digest.hexdigest() != copy["manifest"]["sha256"]:
            raise ct.CopyError("the fetched %s has sha256 %s, its manifest says %s: not restorable" % (
                copy["name"], digest.hexdigest(), copy["manifest"]["sha256"]))
        fileutils.atomic_rename(partial, final)
    except BaseException:
        if os.path.exists(partial):
            os.unlink(partial)
        raise


class _Tee(object):
    def __init__(self, handle, digest):
        self.handle, self.digest = handle, digest

    def write(self, chunk):
        self.digest.update(chunk)
        self.handle.write(chunk)


STATES = {"copied": do_copied, "verified": do_verified, "pruned": do_pruned, "listed": do_listed, "fetched": do_fetched}


def summary(result, left):
    if left:
        return "far copies with problems on %s: %s" % (result["target"], "; ".join(
            "%s %s (%s)" % (p["name"], p["problem"], p["detail"]) for p in left))
    parts = ["%s %s" % (len(result[k]), k.replace("_", " ")) for k in ("sent", "already_there", "repaired", "removed_local",
                                                                       "removed_far") if result.get(k)]
    return "%s: %s" % (result["target"], ", ".join(parts) or "nothing to do")


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    started = time.monotonic()
    params = module.params
    result = dict(changed=False, target="")
    problems = validate(params)
    if problems:
        module.fail_json(msg="; ".join(problems), elapsed=0.0, **result)
    if params["target"] == "s3" and copy_s3.BOTO3_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("boto3"), exception=str(copy_s3.BOTO3_IMPORT_ERROR))
    try:
        target = make_target(params)
        result["target"] = target.describe()
        left = STATES[params["state"]](module, target, result)
    except (ct.CopyError, bm.BackupError) as exc:
        module.fail_json(msg=str(exc), elapsed=round(time.monotonic() - started, 3), **result)
    except OSError as exc:
        module.fail_json(msg="%s: %s" % (exc.strerror or exc, exc.filename or ""), elapsed=round(time.monotonic() - started, 3),
                         **result)
    for item in result.get("far_problems", []):
        module.warn("far copy %s on %s: %s (%s)" % (item["name"], result["target"], item["problem"], item["detail"]))
    result.setdefault("msg", summary(result, left))
    result["elapsed"] = round(time.monotonic() - started, 3)
    if left and params["fail_on_problems"]:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
