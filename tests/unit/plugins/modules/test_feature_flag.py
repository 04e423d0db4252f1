"""The thin module: documentation matches the argument spec, secrets are no_log, design names kept."""

import yaml

from harness.fakes import assert_documented_like_spec
from ansible_collections.medops.runbook.plugins.doc_fragments.redis import ModuleDocFragment
from ansible_collections.medops.runbook.plugins.modules import feature_flag


def test_every_option_is_documented_with_its_type_and_default():
    assert_documented_like_spec(feature_flag, ModuleDocFragment)


def test_design_option_names_are_kept():
    names = "backend name state rollout path prefix api_url api_token project environment redis_url key".split()
    assert set(names) <= set(feature_flag.argument_spec())


def test_secrets_are_no_log():
    spec = feature_flag.argument_spec()
    assert spec["api_token"]["no_log"] and spec["redis_password"]["no_log"] and spec["redis_url"]["no_log"]


def test_every_backend_option_exists():
    spec = feature_flag.argument_spec()
    for options in feature_flag.BACKEND_OPTIONS.values():
        assert set(options) <= set(spec)


def test_examples_and_return_parse():
    assert yaml.safe_load(feature_flag.EXAMPLES)
    assert {"before", "after", "restart_required", "elapsed"} <= set(yaml.safe_load(feature_flag.RETURN))
