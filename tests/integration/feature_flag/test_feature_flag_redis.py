"""feature_flag, backend redis, against a real Redis with a password (the redis_server fixture)."""

from __future__ import annotations

from harness.ansible import run_module


def flag(server, name="new_ui", key="flags:claims", **args):
    return dict(backend="redis", name=name, key=key, redis_url=server.url, **args)


def hset_calls(client):
    return int(client.info("commandstats").get("cmdstat_hset", {}).get("calls", 0)) + \
        int(client.info("commandstats").get("cmdstat_hdel", {}).get("calls", 0))


def test_lifecycle_and_idempotence(redis_server):
    client = redis_server.client()
    client.hset("flags:claims", mapping={"bulk_operations": "true"})
    result = run_module("feature_flag", flag(redis_server, rollout=5))
    assert result["changed"] is True, result.get("msg")
    assert result["before"] == {"exists": False, "enabled": False, "rollout": None}
    assert result["after"] == {"exists": True, "enabled": True, "rollout": 5}
    assert result["restart_required"] is False
    assert client.hgetall("flags:claims") == {b"bulk_operations": b"true", b"new_ui": b"true", b"new_ui:rollout": b"5"}

    writes = hset_calls(client)
    again = run_module("feature_flag", flag(redis_server, rollout=5))
    assert again["changed"] is False and again["writes"] == []
    assert hset_calls(client) == writes

    result = run_module("feature_flag", flag(redis_server, rollout=25))
    assert result["writes"] == ["HSET new_ui:rollout"]
    result = run_module("feature_flag", flag(redis_server, state="disabled"))
    assert result["after"] == {"exists": True, "enabled": False, "rollout": 25}
    assert client.hget("flags:claims", "new_ui") == b"false"

    result = run_module("feature_flag", flag(redis_server, state="absent"))
    assert result["changed"] is True
    assert client.hgetall("flags:claims") == {b"bulk_operations": b"true"}
    assert run_module("feature_flag", flag(redis_server, state="absent"))["changed"] is False


def test_check_mode_changes_no_key(redis_server):
    client = redis_server.client()
    client.hset("flags:claims", mapping={"new_ui": "1", "new_ui:rollout": "50"})
    result = run_module("feature_flag", flag(redis_server, rollout=100), check=True)
    assert result["changed"] is True and result["before"] == {"exists": True, "enabled": True, "rollout": 50}
    result = run_module("feature_flag", flag(redis_server, name="other"), check=True)
    assert result["changed"] is True
    assert client.hgetall("flags:claims") == {b"new_ui": b"1", b"new_ui:rollout": b"50"}
    assert client.keys("*") == [b"flags:claims"]


def test_connection_options_and_errors(redis_server):
    params = dict(backend="redis", name="new_ui", key="flags:x", redis_host="127.0.0.1", redis_port=redis_server.port,
                  redis_password=redis_server.password)
    assert run_module("feature_flag", params)["changed"] is True
    assert redis_server.client().hget("flags:x", "new_ui") == b"true"

    wrong = dict(params, redis_password="not-the-password")
    result = run_module("feature_flag", wrong, "-vvv")
    assert result["failed"] is True and "wrong redis_password" in result["msg"]
    assert "not-the-password" not in result["_run"].output

    redis_server.client().set("flags:string", "x")
    result = run_module("feature_flag", dict(params, key="flags:string"))
    assert result["failed"] is True and "not a hash of flags" in result["msg"]


def test_rollout_absent_deletes_the_rollout_field(redis_server):
    client = redis_server.client()
    client.hset("flags:claims", mapping={"new_ui": "false", "other": "true"})
    start = client.hgetall("flags:claims")
    run_module("feature_flag", flag(redis_server, rollout=25))
    check = run_module("feature_flag", flag(redis_server, state="disabled", rollout_absent=True), check=True)
    assert check["changed"] is True and check["after"] == {"exists": True, "enabled": False, "rollout": None}
    assert client.hget("flags:claims", "new_ui:rollout") == b"25"

    result = run_module("feature_flag", flag(redis_server, state="disabled", rollout_absent=True))
    assert result["changed"] is True, result.get("msg")
    assert result["writes"] == ["HSET new_ui", "HDEL new_ui:rollout"]
    assert result["after"] == {"exists": True, "enabled": False, "rollout": None}
    assert client.hgetall("flags:claims") == start

    writes = hset_calls(client)
    again = run_module("feature_flag", flag(redis_server, state="disabled", rollout_absent=True))
    assert again["changed"] is False and again["writes"] == [] and again["before"]["rollout"] is None
    assert hset_calls(client) == writes
