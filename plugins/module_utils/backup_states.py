# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_backup's states (dumped, verified, restored, pruned) for any engine of backup_registry.

The module declares its options and calls ``run``; everything an engine does not decide is here,
written once: input checks, where a backup goes and which one is picked, identity checks before a
restore, check mode, leftovers, retention and the result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.medops.runbook.plugins.module_utils import backup_manifest as bm
from ansible_collections.medops.runbook.plugins.module_utils import fileutils
from ansible_collections.medops.runbook.plugins.module_utils import postgresql_driver
from ansible_collections.medops.runbook.plugins.module_utils.backup_registry import ENGINES

STATES = ["dumped", "verified", "restored", "pruned"]


class VerifyFailed(Exception):
    pass


def validate(params):
    """Every input problem as one clear sentence, before anything runs."""
    problems = _location_problems(params) + _number_problems(params)
    if params["state"] == "pruned":
        problems += _retention_problems(params)
    if params["scratch_database"] is not None and params["scratch_database"] in (params["database"], params["target_database"]):
        problems.append("scratch_database must not be the source or target database (it is dropped after the check)")
    return problems + ENGINES[params["engine"]].problems(params)


def _location_problems(params):
    state, problems = params["state"], []
    if state in ("dumped", "pruned") and not params["dest"]:
        problems.append("dest (the backup directory) is required with state=%s" % state)
    if state in ("verified", "restored") and not params["dest"] and not params["backup"]:
        problems.append("state=%s needs backup (a backup's path) or dest (to pick the newest backup)" % state)
    if params["dest"] and os.path.exists(params["dest"]) and not os.path.isdir(params["dest"]):
        problems.append("dest %s exists and is not a directory" % params["dest"])
    return problems


def _number_problems(params):
    problems = postgresql_driver.login_problems(params)
    if params["jobs"] < 1:
        problems.append("jobs must be 1 or more, got %d" % params["jobs"])
    if params["compression_level"] is not None and params["compression"] == "none":
        problems.append("compression_level makes no sense with compression=none")
    if params["compression_level"] is not None and params["compression_level"] < 1:
        problems.append("compression_level must be 1 or more (use compression=none for no compression)")
    for option in ("restore_free_bytes", "restore_min_free_bytes"):
        if params[option] is not None and params[option] < 0:
            problems.append("%s must be 0 or more, got %d" % (option, params[option]))
    return problems


def _retention_problems(params):
    problems = []
    if params["keep_last"] is None and params["max_age_days"] is None:
        problems.append("state=pruned needs keep_last and/or max_age_days (otherwise every backup would go)")
    if params["keep_last"] is not None and params["keep_last"] < 1:
        problems.append("keep_last must be 1 or more, got %d" % params["keep_last"])
    if params["max_age_days"] is not None and params["max_age_days"] <= 0:
        problems.append("max_age_days must be more than 0, got %s" % params["max_age_days"])
    return problems


def identity_problems(params, manifest, target):
    problems = []
    if params["clinic"] and manifest.get("clinic") and manifest["clinic"] != params["clinic"]:
        problems.append("the backup belongs to clinic %r, not %r" % (manifest["clinic"], params["clinic"]))
    expected = params["database"] or target
    if expected and manifest.get("database") and manifest["database"] != expected:
        problems.append("the backup is of database %r, not %r" % (manifest["database"], expected))
    return problems


def _database_scope(params):
    """The database backups are matched on, or None for an engine whose backups hold every database."""
    return params["database"] if ENGINES[params["engine"]].per_database else None


def pick_backup(params):
    if params["backup"]:
        return params["backup"].rstrip("/")
    return bm.newest_backup(params["dest"], params["engine"], params["clinic"], _database_scope(params))


def read_backup(params):
    """(path, manifest) of the backup to verify or restore; it must be of the engine asked for."""
    backup = pick_backup(params)
    manifest = bm.read_manifest(backup)
    if manifest.get("engine") != params["engine"]:
        raise bm.BackupError("%s is a %s backup, not %s" % (backup, manifest.get("engine"), params["engine"]))
    return backup, manifest


def do_dumped(module, engine, result):
    params = module.params
    dest = params["dest"]
    label = params["clinic"] or params["database"] or params["engine"]
    final = bm.final_path(dest, label, params["engine"], bm.utcnow(), engine.suffix(params))
    if module.check_mode:
        result.update(changed=True, backup=final, command=engine.plan_dump(final), msg="would write %s" % final)
        return
    result["created_dest"] = fileutils.ensure_private_dir(dest)
    try:
        manifest = engine.dump(final)
    except BaseException:
        # A failed first run leaves the machine as it found it.
        if result["created_dest"] and not os.listdir(dest):
            os.rmdir(dest)
            result["created_dest"] = False
        raise
    result.update(changed=True, backup=final, manifest=manifest, msg="wrote %s (%d bytes)" % (final, manifest["bytes"]))


def do_verified(module, engine, result):
    params = module.params
    backup, manifest = read_backup(params)
    result.update(backup=backup, manifest=manifest)
    if module.check_mode:
        result.update(msg="would verify %s%s" % (backup, " with a restore into a scratch database" if params["restore_check"] else ""))
        return
    checks = engine.verify(backup, manifest, params["restore_check"])
    ok = all(c["ok"] for c in checks)
    result.update(checks=checks, verified=ok)
    for item in checks:
        if "tables" in item:
            result["tables"] = item["tables"]
    if not ok:
        failed = ["%s: %s" % (c["name"], c["detail"]) for c in checks if not c["ok"]]
        raise VerifyFailed("verification of %s failed: %s" % (backup, "; ".join(failed)))
    result["verification"] = bm.record_verified(backup, manifest, checks)
    result["msg"] = "%s passed %s" % (backup, ", ".join(c["name"] for c in checks))


def do_restored(module, engine, result):
    params = module.params
    backup, manifest = read_backup(params)
    target = params["target_database"] or params["database"] or engine.database
    problems = identity_problems(params, manifest, target)
    result.update(backup=backup, target_database=target)
    if problems and not params["force"]:
        raise bm.BackupError("refusing to restore %s into %r: %s (force=true overrides)" % (backup, target, "; ".join(problems)))
    result["identity_overridden"] = problems
    if module.check_mode:
        keeps = " (the replaced database would be kept, not dropped)" if params["restore_mode"] == "replace" else ""
        result.update(changed=True, manifest=manifest, msg="would restore %s into %r%s" % (backup, target, keeps))
        return
    outcome = engine.restore(backup, manifest, target)
    result.update(outcome)
    result.update(changed=True, manifest=manifest, msg="restored %s into %r%s" % (backup, target, _kept_note(outcome)))
    _warn_after_restore(module, outcome)


def _kept_note(outcome):
    if not outcome.get("database_kept"):
        return ""
    since = outcome["rows_since_backup"]
    return "; the database it replaced is kept as %r%s" % (outcome["database_kept"], (
        ", with rows the backup does not have: %s" % ", ".join("%s %+d" % item for item in since.items())) if since else
        ", with the same row counts as the backup")


def _warn_after_restore(module, outcome):
    free_space = outcome.get("free_space")
    if free_space and free_space.get("checked") is False and "reason" not in free_space:
        module.warn("free space not checked: %s" % free_space["measured_by"])
    for check in outcome["checks"]:
        if not check["ok"]:
            module.warn("after the restore %s" % check["detail"])


def do_pruned(module, result):
    params = module.params
    backups = bm.list_backups(params["dest"], params["engine"], params["clinic"], _database_scope(params))
    keep, remove = bm.prune_plan(backups, params["keep_last"], params["max_age_days"], bm.utcnow())
    if not module.check_mode:
        for entry in remove:
            bm.remove_backup(entry["path"])
    result.update(changed=bool(remove), kept=keep, removed=remove,
                  msg="%s %d backups, kept %d" % ("would remove" if module.check_mode else "removed", len(remove), len(keep)))


HANDLERS = {"dumped": do_dumped, "verified": do_verified, "restored": do_restored}


def _require_library(module, engine_class):
    if engine_class.library and engine_class.library[1]:
        module.fail_json(msg=missing_required_lib(engine_class.library[0]), exception=engine_class.library[1])


def _warn_unused_options(module, engine_class):
    unused = [name for name in engine_class.unused_options if module.params.get(name) is not None]
    if unused:
        module.warn("engine=%s does not use %s: %s" % (engine_class.name, ", ".join(unused), engine_class.unused_hint))


def _state(module, result):
    params = module.params
    if params["dest"]:
        result["leftovers_removed"] = bm.clean_leftovers(params["dest"], module.check_mode)
    if params["state"] == "pruned":
        do_pruned(module, result)
    else:
        HANDLERS[params["state"]](module, ENGINES[params["engine"]](params), result)


def run(module):
    """db_backup's whole run: check the inputs, do the state, exit (or fail) with the result."""
    started = time.monotonic()
    params = module.params
    result = dict(changed=False, leftovers_removed=[])
    problems = validate(params)
    if problems:
        module.fail_json(msg="; ".join(problems), elapsed=0.0, **result)
    engine_class = ENGINES[params["engine"]]
    _require_library(module, engine_class)
    _warn_unused_options(module, engine_class)
    try:
        _state(module, result)
    except (bm.BackupError, VerifyFailed) as exc:
        result["elapsed"] = round(time.monotonic() - started, 3)
        module.fail_json(msg=str(exc), **result)
    except OSError as exc:
        result["elapsed"] = round(time.monotonic() - started, 3)
        module.fail_json(msg="%s: %s" % (exc.strerror or exc, exc.filename or ""), **result)
    if result["leftovers_removed"] and not module.check_mode:
        result["changed"] = True
    result["elapsed"] = round(time.monotonic() - started, 3)
    module.exit_json(**result)
