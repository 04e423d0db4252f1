"""Redis flag store: which HSET/HDEL a change needs (no server: plan only)."""

from ansible_collections.medops.runbook.plugins.module_utils.flag_common import desired_state, flag_state
from ansible_collections.medops.runbook.plugins.module_utils.flag_redis import RedisFlags


def plan(before, state, rollout=None, rollout_absent=False):
    store = RedisFlags({}, "flags:app", "new_ui")
    store.plan(before, desired_state(before, state, rollout, rollout_absent), rollout_absent)
    return store.writes


def test_writes_only_what_differs():
    assert plan(flag_state(False), "enabled", 5) == [("HSET", {"new_ui": "true", "new_ui:rollout": "5"})]
    assert plan(flag_state(True, True, 5), "enabled", 25) == [("HSET", {"new_ui:rollout": "25"})]
    assert plan(flag_state(True, True, 25), "disabled") == [("HSET", {"new_ui": "false"})]
    assert plan(flag_state(True, True, 25), "enabled", 25) == []
    assert plan(flag_state(True, False, 25), "absent") == [("HDEL", ["new_ui", "new_ui:rollout"])]
    assert plan(flag_state(False), "absent") == []


def test_rollout_absent_deletes_the_rollout_field_only_when_there_is_one():
    assert plan(flag_state(True, True, 25), "disabled", rollout_absent=True) == [
        ("HSET", {"new_ui": "false"}), ("HDEL", ["new_ui:rollout"])]
    assert plan(flag_state(True, False, 25), "disabled", rollout_absent=True) == [("HDEL", ["new_ui:rollout"])]
    assert plan(flag_state(True, False, None), "disabled", rollout_absent=True) == []
    assert plan(flag_state(True, True, 25), "absent", rollout_absent=True) == [("HDEL", ["new_ui", "new_ui:rollout"])]
