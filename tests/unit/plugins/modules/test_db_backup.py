"""db_backup: argument validation (pure, module_utils/backup_states) and the documented options matching the spec."""

from __future__ import annotations

import yaml

from ansible_collections.medops.runbook.plugins.module_utils import backup_states
from ansible_collections.medops.runbook.plugins.modules import db_backup


def params(**extra):
    spec = db_backup.argument_spec()
    base = {name: opt.get("default") for name, opt in spec.items()}
    base.update(extra)
    return base


def test_valid_dump_has_no_problems():
    assert backup_states.validate(params(dest="/b", database="d")) == []


def test_each_problem_is_named():
    problems = backup_states.validate(params(state="pruned", jobs=0, login_port=0, compression="none", compression_level=5))
    text = "; ".join(problems)
    for expected in ("dest (the backup directory) is required", "jobs must be 1 or more", "login_port must be between",
                     "needs keep_last and/or max_age_days", "compression_level makes no sense"):
        assert expected in text


def test_restore_identity_checks():
    manifest = {"clinic": "kin", "database": "clinic_kin"}
    assert backup_states.identity_problems(params(clinic="kin", database="clinic_kin"), manifest, "clinic_kin") == []
    problems = backup_states.identity_problems(params(clinic="lub"), manifest, "clinic_lub")
    assert problems == ["the backup belongs to clinic 'kin', not 'lub'", "the backup is of database 'clinic_kin', not 'clinic_lub'"]


def test_documentation_matches_argument_spec():
    documented = yaml.safe_load(db_backup.DOCUMENTATION)["options"]
    from ansible_collections.medops.runbook.plugins.doc_fragments import db_connection, redis

    for fragment in (db_connection.ModuleDocFragment.DOCUMENTATION, db_connection.ModuleDocFragment.MAINTENANCE_DATABASE,
                     redis.ModuleDocFragment.DOCUMENTATION):
        documented.update(yaml.safe_load(fragment)["options"])
    spec = db_backup.argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name]["type"] == option["type"], name
        assert documented[name].get("default") == option.get("default") or (option.get("default") == [] and name == "dump_extra_args"), name
        assert documented[name].get("choices") == option.get("choices"), name


def test_negative_free_space_settings_are_refused():
    text = "; ".join(backup_states.validate(params(dest="/b", database="d", restore_free_bytes=-1, restore_min_free_bytes=-5)))
    assert "restore_free_bytes must be 0 or more, got -1" in text and "restore_min_free_bytes must be 0 or more, got -5" in text
