"""Unleash flag store: the API calls a change needs, against a stubbed request()."""

import pytest

from ansible_collections.medops.runbook.plugins.module_utils.flag_common import FlagError, desired_state
from ansible_collections.medops.runbook.plugins.module_utils.flag_unleash import UnleashFlags, check_unleash_params

PARAMS = dict(api_url="http://unleash.test", api_token="tok", name="new-ui", project="default", environment="development",
              flag_type="release", description=None, validate_certs=True, timeout=10)


class Stub(UnleashFlags):
    def __init__(self, feature, archived=False):
        super(Stub, self).__init__(dict(PARAMS))
        self.feature, self.archived_flag, self.calls = feature, archived, []

    def request(self, method, path, body=None, missing_ok=False):
        self.calls.append((method, path))
        if path.startswith("/api/admin/search/"):
            return {"features": [{"name": "new-ui"}] if self.archived_flag else []}
        return self.feature


def strategy(rollout, sid="s1"):
    return {"id": sid, "name": "flexibleRollout", "parameters": {"rollout": str(rollout), "stickiness": "default", "groupId": "new-ui"}}


def feature(enabled, *strategies):
    return {"name": "new-ui", "environments": [{"name": "development", "enabled": enabled, "strategies": list(strategies)}]}


def writes(store, state, rollout=None, rollout_absent=False):
    before = store.read()
    store.plan(before, desired_state(before, state, rollout, rollout_absent), rollout_absent)
    return [(method, path.rsplit("/", 2)[-2:], body) for method, path, body, _what in store.writes]


def test_new_flag_is_created_then_gets_its_strategy_then_is_switched_on():
    calls = writes(Stub(None), "enabled", 5)
    assert [call[0] for call in calls] == ["POST", "POST", "POST"]
    assert calls[0][2] == {"name": "new-ui", "type": "release", "impressionData": False}
    assert calls[1][2]["parameters"] == {"rollout": "5", "stickiness": "default", "groupId": "new-ui"}
    assert calls[2][1] == ["development", "on"]


def test_nothing_to_write_when_it_already_holds():
    assert writes(Stub(feature(True, strategy(25))), "enabled", 25) == []
    assert writes(Stub(feature(False, strategy(25))), "disabled") == []


def test_rollout_change_updates_the_existing_strategy_only():
    calls = writes(Stub(feature(True, strategy(5))), "enabled", 50)
    assert calls == [("PUT", ["strategies", "s1"], {"name": "flexibleRollout", "constraints": [],
                                                    "parameters": {"rollout": "50", "stickiness": "default", "groupId": "new-ui"}})]


def test_archived_flag_is_revived_and_absent_archives():
    assert writes(Stub(None, archived=True), "enabled")[0][:2] == ("POST", ["revive", "new-ui"])
    assert writes(Stub(feature(True)), "absent") == [("DELETE", ["features", "new-ui"], None)]


def test_rollout_absent_switches_off_then_deletes_every_active_rollout_strategy():
    other = {"id": "d1", "name": "default", "parameters": {}}
    paused = dict(strategy(80, "s3"), disabled=True)
    calls = writes(Stub(feature(True, other, strategy(25, "s1"), strategy(50, "s2"), paused)), "disabled", rollout_absent=True)
    assert calls == [("POST", ["development", "off"], None),
                     ("DELETE", ["strategies", "s1"], None), ("DELETE", ["strategies", "s2"], None)]


def test_rollout_absent_writes_nothing_without_a_rollout_strategy():
    assert writes(Stub(feature(False, {"id": "d1", "name": "default", "parameters": {}})), "disabled", rollout_absent=True) == []
    assert writes(Stub(feature(False)), "disabled", rollout_absent=True) == []


def test_rollout_absent_keeps_an_enabled_flag_only_with_another_strategy():
    user = {"id": "u1", "name": "userWithId", "parameters": {"userIds": "42"}}
    assert writes(Stub(feature(True, user, strategy(25))), "enabled", rollout_absent=True) == [
        ("DELETE", ["strategies", "s1"], None)]
    for store in (Stub(feature(True, strategy(25))), Stub(feature(False)), Stub(None)):
        with pytest.raises(FlagError, match="cannot keep new-ui switched on in development without a rollout value"):
            writes(store, "enabled", rollout_absent=True)


def test_params_are_checked():
    with pytest.raises(FlagError, match="api_url must be"):
        check_unleash_params(dict(PARAMS, api_url="unleash.test"))
    with pytest.raises(FlagError, match="environment must be"):
        check_unleash_params(dict(PARAMS, environment="a/b"))
