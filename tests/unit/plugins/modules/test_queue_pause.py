"""The thin module: documentation matches the argument spec; main() turns errors into fail_json."""

import json

import pytest
import yaml

from harness.modargs import patch_module_args
from harness.fakes import assert_documented_like_spec
from ansible_collections.medops.runbook.plugins.doc_fragments.redis import ModuleDocFragment
from ansible_collections.medops.runbook.plugins.modules import queue_pause


def test_every_option_is_documented_with_its_type_and_default():
    assert_documented_like_spec(queue_pause, ModuleDocFragment)


def test_design_option_names_are_kept():
    names = ("backend state queues redis_url redis_host redis_port redis_db redis_password redis_tls prefix "
             "drain_timeout poll_interval missing_ok pause_url resume_url stats_url metrics_url").split()
    assert set(names) <= set(queue_pause.argument_spec())


def test_secrets_are_no_log():
    spec = queue_pause.argument_spec()
    assert spec["token"]["no_log"] and spec["redis_password"]["no_log"] and spec["redis_url"]["no_log"]


def test_return_documents_every_result_key():
    documented = set(yaml.safe_load(queue_pause.RETURN))
    produced = {"changed", "state", "queues", "missing", "drained", "timed_out", "drain_elapsed", "polls",
                "drain_started_at", "drain_last_busy_at", "drain_finished_at", "elapsed"}
    assert produced == documented


def run_main(capsys, args):
    with patch_module_args(args), pytest.raises(SystemExit):
        queue_pause.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("args, message", [
    (dict(state="paused", queues=[]), "at least one queue"),
    (dict(state="paused", queues=["a", "a"]), "lists a name twice: a"),
    (dict(state="paused", queues=[" "]), "is empty"),
    (dict(state="drained", queues=["a"], drain_timeout=-1), "drain_timeout must be 0 or more"),
    (dict(state="drained", queues=["a"], poll_interval=0), "poll_interval must be more than 0"),
    (dict(state="paused", queues=["a"], prefix=""), "prefix must not be empty"),
    (dict(state="paused", queues=["a"], backend="http"), "needs pause_url"),
    (dict(state="paused", queues=["a"], redis_port=0), "redis_port must be between 1 and 65535"),
])
def test_bad_input_fails_before_connecting(capsys, args, message):
    result = run_main(capsys, args)
    assert result["failed"] and not result.get("changed") and message in result["msg"]
