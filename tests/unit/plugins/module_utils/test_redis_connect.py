"""Redis option checks and error messages (a real server answers in the integration tests)."""

import pytest

from ansible_collections.medops.runbook.plugins.module_utils import redis_connect
from ansible_collections.medops.runbook.plugins.module_utils.redis_connect import (
    RedisConnectError, check_params, connect, redis_argument_spec)


def params(**kw):
    out = dict((name, option.get("default")) for name, option in redis_argument_spec().items())
    out.update(kw)
    return out


@pytest.mark.parametrize("kw, message", [
    (dict(redis_url="http://h:6379"), "must start with redis://"),
    (dict(redis_port=0), "between 1 and 65535"),
    (dict(redis_db=-1), "0 or more"),
    (dict(redis_timeout=0), "more than 0 seconds"),
])
def test_bad_values(kw, message):
    with pytest.raises(RedisConnectError, match=message):
        check_params(params(**kw))


def test_secrets_are_no_log():
    spec = redis_argument_spec()
    assert spec["redis_password"]["no_log"] and spec["redis_url"]["no_log"]


def test_errors_never_carry_the_password(monkeypatch):
    class Boom(object):
        def __init__(self, *args, **kw):
            pass

        @classmethod
        def from_url(cls, url, **kw):
            return cls()

        def ping(self):
            raise redis_connect.redis.ConnectionError("Error connecting to redis://:hunter2@h:1")

    monkeypatch.setattr(redis_connect.redis, "Redis", Boom)
    with pytest.raises(RedisConnectError) as info:
        connect(params(redis_url="redis://:hunter2@h:1/0"))
    assert "hunter2" not in str(info.value) and "cannot reach the Redis server of redis_url" in str(info.value)
    with pytest.raises(RedisConnectError) as info:
        connect(params(redis_host="h", redis_port=1, redis_password="hunter2"))
    assert "hunter2" not in str(info.value) and "Redis at h:1" in str(info.value)
