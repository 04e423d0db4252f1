"""backup_copy module: argument validation (pure), the summary line and the documented options."""

from __future__ import annotations

import yaml

from ansible_collections.medops.runbook.plugins.modules import backup_copy


def params(**extra):
    base = {name: opt.get("default") for name, opt in backup_copy.argument_spec().items()}
    base.update(extra)
    return base


def test_a_complete_ssh_or_s3_call_has_no_problems():
    assert backup_copy.validate(params(target="ssh", dest="/b", ssh_host="h", remote_dir="/srv/b")) == []
    assert backup_copy.validate(params(target="s3", dest="/b", s3_bucket="bucket")) == []


def test_each_problem_is_named():
    text = "; ".join(backup_copy.validate(params(target="ssh", dest="/b", state="pruned", retention_days=0,
                                                 retention_weeks=-1, ssh_port=0, backup="x.dump",
                                                 s3_multipart_threshold=1024)))
    for expected in ("ssh_host is required with target=ssh", "remote_dir is required with target=ssh",
                     "retention_weeks must be 0 or more", "retention_days must be 1 or more with state=pruned",
                     "s3_multipart_threshold must be at least 5 MiB", "ssh_port must be between 1 and 65535",
                     "backup applies to state=fetched only"):
        assert expected in text, expected
    assert backup_copy.validate(params(target="s3", dest="/b"))[0] == "s3_bucket is required with target=s3"
    problems = backup_copy.validate(params(target="s3", dest="/b", s3_bucket="b", state="fetched", backup="../etc/x"))
    assert problems == ["backup is the name of a far copy, not a path: ../etc/x"]


def test_the_summary_names_each_far_copy_with_a_problem():
    result = {"target": "s3://b/kin/", "sent": ["a.dump"], "already_there": ["b.dump"]}
    assert backup_copy.summary(result, []) == "s3://b/kin/: 1 sent, 1 already there"
    left = [{"name": "c.dump", "problem": "differs", "detail": "sha256 at the far end is 00"}]
    assert backup_copy.summary(result, left) == "far copies with problems on s3://b/kin/: c.dump differs (sha256 at the far end is 00)"


def test_documentation_matches_argument_spec():
    documented = yaml.safe_load(backup_copy.DOCUMENTATION)["options"]
    spec = backup_copy.argument_spec()
    assert set(documented) == set(spec)
    for name, option in spec.items():
        assert documented[name].get("type") == option["type"], name
        assert documented[name].get("default") == option.get("default"), name
        assert documented[name].get("choices") == option.get("choices"), name
