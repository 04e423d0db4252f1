# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis connection options (doc fragment medops.runbook.redis) and one place that turns them
into a connected client with error messages that name the cause and never the password."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.six.moves.urllib.parse import unquote, urlsplit

REDIS_IMPORT_ERROR = None
try:
    import redis
except ImportError:
    REDIS_IMPORT_ERROR = traceback.format_exc()
    redis = None


def redis_argument_spec():
    """The argument spec matching doc fragment ``medops.runbook.redis``."""
    return dict(
        redis_url=dict(type="str", no_log=True),
        redis_host=dict(type="str", default="127.0.0.1"),
        redis_port=dict(type="int", default=6379),
        redis_db=dict(type="int", default=0),
        redis_username=dict(type="str"),
        redis_password=dict(type="str", no_log=True),
        redis_tls=dict(type="bool", default=False),
        redis_validate_certs=dict(type="bool", default=True),
        redis_ca_path=dict(type="path"),
        redis_timeout=dict(type="float", default=10),
    )


class RedisConnectError(Exception):
    """Connecting failed; the message is meant for the user and holds no secret."""


def _where(params):
    if params.get("redis_url"):
        return "the Redis server of redis_url"
    return "Redis at %s:%s" % (params.get("redis_host"), params.get("redis_port"))


def check_params(params):
    """Values the spec's types cannot reject; raise RedisConnectError with the reason."""
    url = params.get("redis_url")
    if url is not None and not url.startswith(("redis://", "rediss://", "unix://")):
        raise RedisConnectError("redis_url must start with redis://, rediss:// or unix:// (got a URL of another scheme)")
    port = params.get("redis_port")
    if port is not None and not 0 < port < 65536:
        raise RedisConnectError("redis_port must be between 1 and 65535, got %s" % port)
    db = params.get("redis_db")
    if db is not None and db < 0:
        raise RedisConnectError("redis_db must be 0 or more, got %s" % db)
    timeout = params.get("redis_timeout")
    if timeout is not None and timeout <= 0:
        raise RedisConnectError("redis_timeout must be more than 0 seconds, got %s" % timeout)


def connect(params):
    """A redis.Redis client that answered PING, built from the redis_* options."""
    check_params(params)
    timeout = params.get("redis_timeout") or 10
    tls = dict()
    if params.get("redis_tls") or (params.get("redis_url") or "").startswith("rediss://"):
        tls = dict(ssl_cert_reqs="required" if params.get("redis_validate_certs", True) else "none",
                   ssl_ca_certs=params.get("redis_ca_path"))
        if not params.get("redis_validate_certs", True):
            tls["ssl_check_hostname"] = False
    try:
        if params.get("redis_url"):
            extra = dict(tls) if (params["redis_url"].startswith("rediss://")) else {}
            client = redis.Redis.from_url(params["redis_url"], socket_timeout=timeout,
                                          socket_connect_timeout=timeout, **extra)
        else:
            client = redis.Redis(host=params.get("redis_host"), port=params.get("redis_port"),
                                 db=params.get("redis_db"), username=params.get("redis_username"),
                                 password=params.get("redis_password"), ssl=bool(tls),
                                 socket_timeout=timeout, socket_connect_timeout=timeout, **tls)
        client.ping()
    except ValueError as exc:
        # redis-py raises ValueError for a malformed URL; its text does not echo the password
        raise RedisConnectError("redis_url is not a valid Redis URL: %s" % _scrub(str(exc), params))
    except redis.AuthenticationError:
        raise RedisConnectError("%s refused the credentials: wrong redis_password (or redis_username)" % _where(params))
    except redis.ResponseError as exc:
        text = str(exc)
        if "NOAUTH" in text or "WRONGPASS" in text:
            raise RedisConnectError("%s needs a password: set redis_password (or put it in redis_url)" % _where(params))
        raise RedisConnectError("%s answered PING with an error: %s" % (_where(params), _scrub(text, params)))
    except redis.TimeoutError:
        raise RedisConnectError("%s did not answer within %s s (redis_timeout)" % (_where(params), timeout))
    except redis.RedisError as exc:
        raise RedisConnectError("cannot reach %s: %s" % (_where(params), _scrub(str(exc), params)))
    return client


def _scrub(text, params):
    secrets = [params.get("redis_url"), params.get("redis_password")]
    if params.get("redis_url"):
        try:
            secrets.append(unquote(urlsplit(params["redis_url"]).password or ""))
            secrets.append(urlsplit(params["redis_url"]).password)
        except ValueError:
            pass
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, "********")
    return text
