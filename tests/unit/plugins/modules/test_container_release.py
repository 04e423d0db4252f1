"""The thin module: documentation matches the argument spec; bad input fails before any API call."""

import json

import pytest
import yaml

from harness.modargs import patch_module_args
from harness.fakes import assert_documented_like_spec
from ansible_collections.medops.runbook.plugins.doc_fragments.docker import ModuleDocFragment
from ansible_collections.medops.runbook.plugins.modules import container_release


def test_every_option_is_documented_with_its_type_and_default():
    assert_documented_like_spec(container_release, ModuleDocFragment)


def test_secrets_are_no_log():
    spec = container_release.argument_spec()
    assert spec["registry_password"]["no_log"] and spec["env"]["no_log"]


def test_return_documents_every_result_key():
    documented = set(yaml.safe_load(container_release.RETURN))
    produced = {"state", "clinic", "version", "action", "reasons", "port", "pulled", "image", "container", "stopped",
                "removed", "containers"}
    assert produced == documented


def run_main(capsys, args):
    with patch_module_args(args), pytest.raises(SystemExit):
        container_release.main()
    return json.loads(capsys.readouterr().out)


def test_bad_input_fails_before_connecting(capsys, tmp_path):
    # The socket does not exist: reaching it would fail with another message.
    result = run_main(capsys, {"clinic": "kin", "version": "1.0.0", "image": "repo", "ports": [8101, 8101],
                               "docker_host": f"unix://{tmp_path}/none.sock"})
    assert result["failed"] and result["msg"].startswith("ports lists a port twice") and result["changed"] is False


def test_an_unreachable_api_is_one_sentence(capsys, tmp_path):
    result = run_main(capsys, {"clinic": "kin", "state": "read", "docker_host": f"unix://{tmp_path}/none.sock"})
    assert result["failed"] and "no socket at" in result["msg"] and "exception" not in result
    assert result["changed"] is False
