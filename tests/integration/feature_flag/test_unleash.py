"""feature_flag, backend unleash, against a real Unleash 8 server started by the session fixture."""

from __future__ import annotations

import json

from harness.ansible import run_module


def flag(server, name, **args):
    params = dict(backend="unleash", name=name, api_url=server.url, api_token=server.token, environment="development")
    params.update(args)
    return params


def env_state(server, name, environment="development"):
    feature = server.feature(name)
    if feature is None or feature.get("archived"):
        return None
    env = [item for item in feature["environments"] if item["name"] == environment][0]
    rollouts = [int(s["parameters"]["rollout"]) for s in env.get("strategies", []) if s["name"] == "flexibleRollout"]
    return env["enabled"], rollouts, env.get("strategies", [])


def test_lifecycle_create_rollout_disable_archive(unleash_server):
    name = "new-ui-lifecycle"
    result = run_module("feature_flag", flag(unleash_server, name, rollout=5))
    assert result["changed"] is True, result.get("msg")
    assert result["before"] == {"exists": False, "enabled": False, "rollout": None}
    assert result["after"] == {"exists": True, "enabled": True, "rollout": 5}
    assert result["restart_required"] is False
    enabled, rollouts, strategies = env_state(unleash_server, name)
    assert enabled is True and rollouts == [5]
    assert strategies[0]["parameters"]["stickiness"] == "default"
    assert strategies[0]["parameters"]["groupId"] == name
    assert unleash_server.feature(name)["type"] == "release"

    for percent in (25, 50, 100):
        result = run_module("feature_flag", flag(unleash_server, name, rollout=percent))
        assert result["changed"] is True
        assert result["before"]["rollout"] == percent_before(percent)
        assert env_state(unleash_server, name)[:2] == (True, [percent])

    result = run_module("feature_flag", flag(unleash_server, name, state="disabled"))
    assert result["changed"] is True
    assert result["after"] == {"exists": True, "enabled": False, "rollout": 100}
    assert env_state(unleash_server, name)[:2] == (False, [100])

    result = run_module("feature_flag", flag(unleash_server, name, state="absent"))
    assert result["changed"] is True and result["after"]["exists"] is False
    assert env_state(unleash_server, name) is None
    archived = unleash_server.api("GET", f"/api/admin/search/features?query={name}&archived=IS:true")["features"]
    assert name in [item["name"] for item in archived]

    again = run_module("feature_flag", flag(unleash_server, name, state="absent"))
    assert again["changed"] is False and again["before"]["exists"] is False

    # enabling an archived flag revives it (its name is still taken) and sets it up again
    revived = run_module("feature_flag", flag(unleash_server, name, rollout=5))
    assert revived["changed"] is True, revived.get("msg")
    assert any("revive" in item for item in revived["writes"])
    assert env_state(unleash_server, name)[:2] == (True, [5])


def percent_before(percent):
    return {25: 5, 50: 25, 100: 50}[percent]


def test_second_identical_run_writes_nothing(unleash_server):
    name = "idempotent-flag"
    first = run_module("feature_flag", flag(unleash_server, name, rollout=30))
    assert first["changed"] is True
    events = unleash_server.event_count()
    updated = unleash_server.feature(name).get("lastSeenAt"), json.dumps(env_state(unleash_server, name))
    second = run_module("feature_flag", flag(unleash_server, name, rollout=30))
    assert second["changed"] is False
    assert second["writes"] == []
    assert second["before"] == second["after"] == {"exists": True, "enabled": True, "rollout": 30}
    assert unleash_server.event_count() == events
    assert (unleash_server.feature(name).get("lastSeenAt"), json.dumps(env_state(unleash_server, name))) == updated
    # disabling twice: one write, then none
    run_module("feature_flag", flag(unleash_server, name, state="disabled"))
    events = unleash_server.event_count()
    assert run_module("feature_flag", flag(unleash_server, name, state="disabled"))["changed"] is False
    assert unleash_server.event_count() == events


def test_check_mode_writes_nothing(unleash_server):
    name = "check-mode-flag"
    events = unleash_server.event_count()
    result = run_module("feature_flag", flag(unleash_server, name, rollout=10), check=True)
    assert result["changed"] is True
    assert result["after"] == {"exists": True, "enabled": True, "rollout": 10}
    assert any("create" in item for item in result["writes"])
    assert unleash_server.feature(name) is None
    assert unleash_server.event_count() == events
    run_module("feature_flag", flag(unleash_server, name, rollout=10))
    events = unleash_server.event_count()
    for args in (dict(rollout=80), dict(state="disabled"), dict(state="absent")):
        assert run_module("feature_flag", flag(unleash_server, name, **args), check=True)["changed"] is True
    assert unleash_server.event_count() == events
    assert env_state(unleash_server, name)[:2] == (True, [10])


def test_manual_strategy_edits_are_kept(unleash_server):
    """A constraint someone added in the UI survives a rollout change; only the percentage moves."""
    name = "kept-constraints"
    run_module("feature_flag", flag(unleash_server, name, rollout=5))
    strategy = env_state(unleash_server, name)[2][0]
    constraint = {"contextName": "userId", "operator": "IN", "values": ["42"], "caseInsensitive": False, "inverted": False}
    body = {"name": "flexibleRollout", "constraints": [constraint], "parameters": strategy["parameters"]}
    unleash_server.api("PUT", f"/api/admin/projects/default/features/{name}/environments/development/strategies/{strategy['id']}", body)
    result = run_module("feature_flag", flag(unleash_server, name, rollout=50))
    assert result["changed"] is True
    strategy = env_state(unleash_server, name)[2][0]
    assert strategy["parameters"]["rollout"] == "50"
    assert strategy["constraints"][0]["values"] == ["42"]


def test_wrong_token_is_a_clear_error(unleash_server):
    token = "*:*.not-the-right-token"
    result = run_module("feature_flag", flag(unleash_server, "whatever", api_token=token, rollout=5), "-vvv")
    assert result["failed"] is True
    assert "rejected api_token (401" in result["msg"]
    assert token not in result["_run"].output
    assert unleash_server.feature("whatever") is None


def test_unknown_project_and_environment(unleash_server):
    result = run_module("feature_flag", flag(unleash_server, "proj-flag", project="no-such-project"))
    assert result["failed"] is True and "no-such-project" in result["msg"]
    run_module("feature_flag", flag(unleash_server, "env-flag", state="disabled"))
    result = run_module("feature_flag", flag(unleash_server, "env-flag", environment="no-such-env"))
    assert result["failed"] is True and "no-such-env" in result["msg"]


def test_unreachable_server(unleash_server):
    result = run_module("feature_flag", flag(unleash_server, "x", api_url="http://127.0.0.1:9"))
    assert result["failed"] is True and "cannot reach Unleash at http://127.0.0.1:9" in result["msg"]


def test_rollout_absent_removes_the_rollout_strategy(unleash_server):
    """A disabled flag with no strategy gets a rollout, then rollout_absent puts it back: off, no strategy."""
    name = "rollout-absent"
    run_module("feature_flag", flag(unleash_server, name, state="disabled"))
    assert env_state(unleash_server, name) == (False, [], [])
    run_module("feature_flag", flag(unleash_server, name, rollout=25))
    assert env_state(unleash_server, name)[:2] == (True, [25])

    events = unleash_server.event_count()
    check = run_module("feature_flag", flag(unleash_server, name, state="disabled", rollout_absent=True), check=True)
    assert check["changed"] is True and check["after"] == {"exists": True, "enabled": False, "rollout": None}
    assert unleash_server.event_count() == events

    result = run_module("feature_flag", flag(unleash_server, name, state="disabled", rollout_absent=True))
    assert result["changed"] is True, result.get("msg")
    assert result["writes"] == [f"turn {name} off in development", "remove flexibleRollout at 25%"]
    assert result["after"] == {"exists": True, "enabled": False, "rollout": None}
    assert env_state(unleash_server, name) == (False, [], [])

    events = unleash_server.event_count()
    again = run_module("feature_flag", flag(unleash_server, name, state="disabled", rollout_absent=True))
    assert again["changed"] is False and again["writes"] == []
    assert unleash_server.event_count() == events

    # on without a rollout: Unleash would switch the environment off (no strategy left), so it is refused
    run_module("feature_flag", flag(unleash_server, name, rollout=25))
    events, held = unleash_server.event_count(), env_state(unleash_server, name)
    refused = run_module("feature_flag", flag(unleash_server, name, rollout_absent=True))
    assert refused["failed"] is True and "without a rollout value" in refused["msg"]
    assert unleash_server.event_count() == events and env_state(unleash_server, name) == held
