"""The thin module: documentation matches the argument spec, secrets are no_log, design names kept."""

import yaml

from ansible_collections.medops.runbook.plugins.doc_fragments.redis import ModuleDocFragment
from ansible_collections.medops.runbook.plugins.modules import feature_flag


def documented_options():
    options = dict(yaml.safe_load(feature_flag.DOCUMENTATION)["options"])
    options.update(yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"])
    return options


def test_every_option_is_documented_with_its_type_and_default():
    spec, docs = feature_flag.argument_spec(), documented_options()
    assert set(spec) == set(docs)
    for name, option in spec.items():
        assert docs[name]["type"] == option["type"], name
        assert docs[name].get("default") == option.get("default"), name
        assert docs[name].get("choices") == option.get("choices"), name
        assert docs[name].get("required", False) == option.get("required", False), name


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
