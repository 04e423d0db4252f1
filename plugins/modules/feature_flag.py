#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: feature_flag
short_description: Turn a feature flag on or off and set its gradual rollout, in an env file, Unleash or Redis
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.redis
description:
  - Sets one feature flag to O(state) and, optionally, its rollout percentage O(rollout), in one of three stores
    (O(backend)). A second identical run changes nothing and writes nothing.
  - "V(envfile): edits C(KEY=value) lines of an env file in place. The flag O(name) V(new_ui) with the default
    O(prefix) is the line C(FEATURE_FLAG_NEW_UI=true); its rollout goes to the companion line
    C(FEATURE_FLAG_NEW_UI_ROLLOUT=25) (the flag's key plus O(rollout_suffix)), inserted right after the flag's line.
    Comments, blank lines, order, other lines, CRLF line endings, the edited line's quotes, C(export) prefix,
    trailing comment and boolean words (true/false, 1/0, yes/no, on/off) are kept. The file is replaced
    atomically and keeps its owner and mode. Services read env files when they start, so a change returns
    RV(restart_required=true)."
  - "V(unleash): the admin API of an Unleash server (version 5 or later). Creates the flag (type O(flag_type))
    when it is missing, turns it on or off in O(environment), and keeps one C(flexibleRollout) strategy
    (stickiness C(default), group id = the flag's name) at O(rollout) percent. V(absent) archives the flag."
  - "V(redis): a hash per application (O(key), for example C(flags:claims)) with field C(<name>) = C(true)/C(false)
    and field C(<name>:rollout) = the percentage, written in one transaction."
  - When O(rollout) is not given, the stored rollout is left as it is; O(rollout_absent=true) removes it.
author:
  - medops.runbook contributors (@medops-runbook)
options:
  backend:
    description: Where the flag lives.
    type: str
    default: envfile
    choices: [envfile, unleash, redis]
  name:
    description:
      - The flag's name, for example V(new_ui).
      - "V(envfile): upper-cased, C(-), C(.) and spaces turned into C(_), and prefixed with O(prefix) unless it
        already starts with it."
    type: str
    required: true
  state:
    description: V(enabled) or V(disabled) create the flag when missing; V(absent) removes (archives) it.
    type: str
    default: enabled
    choices: [enabled, disabled, absent]
  rollout:
    description:
      - Percentage (0 to 100) of users that see the flag when it is enabled. Not allowed with O(state=absent).
      - Left unchanged when not given.
      - Mutually exclusive with O(rollout_absent=true).
    type: int
  rollout_absent:
    description:
      - "The flag has no rollout value at all: V(envfile) removes the companion line O(rollout_suffix) (every
        other byte of the file is kept), V(redis) deletes the field C(<name>:rollout), V(unleash) deletes every
        active C(flexibleRollout) strategy of the flag in O(environment) (other strategies are left alone).
        Afterwards C(rollout) in RV(after) is V(null). Nothing is written when there is no rollout value already."
      - "V(unleash) with O(state=enabled): Unleash switches an environment off when its last strategy is
        deleted, and adds a C(flexibleRollout) at 100 % to one switched on without a strategy. So the flag
        must keep another active strategy (for example C(userWithId)); otherwise the module fails before
        writing anything (use O(state=disabled), or O(rollout=100) for everyone)."
      - Use it to put a flag back to how it was before a rollout gave it a percentage.
      - Mutually exclusive with O(rollout).
    type: bool
    default: false
  path:
    description: V(envfile) only. The env file, for example C(/srv/medlink/.env.staging). A symlink is followed.
    type: path
  create:
    description: V(envfile) only. Create O(path) when it does not exist (otherwise that is an error).
    type: bool
    default: false
  mode:
    description: V(envfile) only. Permissions of a file that O(create) creates; an existing file keeps its own.
    type: str
    default: "0600"
  prefix:
    description: V(envfile) only. Prefix of the flag's variable name.
    type: str
    default: FEATURE_FLAG_
  rollout_suffix:
    description: V(envfile) only. Suffix of the companion variable that holds the rollout percentage.
    type: str
    default: _ROLLOUT
  api_url:
    description: V(unleash) only. Base URL of the Unleash server, for example C(https://unleash.example.org).
    type: str
  api_token:
    description: V(unleash) only. An admin API token (personal access token or admin token). Never logged.
    type: str
  project:
    description: V(unleash) only. The Unleash project.
    type: str
    default: default
  environment:
    description: V(unleash) only. The Unleash environment whose switch and strategy the module manages.
    type: str
    default: development
  flag_type:
    description: V(unleash) only. Type of a flag the module creates.
    type: str
    default: release
    choices: [release, experiment, operational, kill-switch, permission]
  description:
    description: V(unleash) only. Description of a flag the module creates.
    type: str
  validate_certs:
    description: V(unleash) only. Verify the server's TLS certificate.
    type: bool
    default: true
  timeout:
    description: V(unleash) only. Seconds to wait for each API answer.
    type: float
    default: 10
  key:
    description: V(redis) only. The hash that holds the application's flags, for example C(flags:claims).
    type: str
attributes:
  check_mode:
    support: full
  diff_mode:
    support: partial
    details: V(envfile) returns the flag's lines before and after (only those lines; the rest of an env file holds secrets).
notes:
  - The O(redis_url) and O(redis_host) family of options are used with O(backend=redis) only.
requirements:
  - redis (Python library) 4.1 or later, for O(backend=redis) only
"""

EXAMPLES = r"""
- name: Turn on the new UI for 25 % of MedLink staging users
  medops.runbook.feature_flag:
    name: new_ui
    rollout: 25
    path: /srv/medlink/.env.staging
  register: new_ui

- name: Restart MedLink when the env file changed
  ansible.builtin.systemd_service:
    name: medlink
    state: restarted
  when: new_ui.restart_required

- name: Roll the flag out to everyone in Unleash
  medops.runbook.feature_flag:
    backend: unleash
    name: new-ui
    rollout: 100
    api_url: https://unleash.example.org
    api_token: "{{ vault_unleash_admin_token }}"
    environment: production

- name: Turn a flag off in the Redis hash the claims service reads
  medops.runbook.feature_flag:
    backend: redis
    name: bulk_operations
    state: disabled
    key: flags:claims
    redis_url: "{{ vault_redis_url }}"

- name: Put the flag back to "off, no rollout line" after a failed rollout
  medops.runbook.feature_flag:
    name: new_ui
    state: disabled
    rollout_absent: true
    path: /srv/medlink/.env.staging

- name: Remove a retired flag from the env file
  medops.runbook.feature_flag:
    name: advanced_analytics
    state: absent
    path: /srv/medlink/.env.staging
"""

RETURN = r"""
before:
  description: The flag as the store held it before the run.
  returned: always
  type: dict
  contains:
    exists:
      description: The flag is present (not archived).
      type: bool
    enabled:
      description: The flag is on.
      type: bool
    rollout:
      description: Rollout percentage; null when none is stored.
      type: int
  sample: {exists: true, enabled: false, rollout: 5}
after:
  description: The flag after the run (in check mode, what it would be).
  returned: always
  type: dict
  sample: {exists: true, enabled: true, rollout: 25}
restart_required:
  description: The change takes effect only after the service restarts (V(envfile) with a change).
  returned: always
  type: bool
backend:
  description: The store used.
  returned: always
  type: str
flag:
  description: Where the flag lives in the store (variable names, hash fields, or Unleash project and environment).
  returned: always
  type: dict
  sample: {key: FEATURE_FLAG_NEW_UI, rollout_key: FEATURE_FLAG_NEW_UI_ROLLOUT, path: /srv/medlink/.env.staging}
writes:
  description: The writes done (or, in check mode, that would be done), without secrets.
  returned: always
  type: list
  elements: str
elapsed:
  description: Seconds the module ran.
  returned: always
  type: float
diff:
  description: With C(--diff), the flag's lines before and after (V(envfile)).
  returned: when diff mode is on and the backend is envfile
  type: dict
"""

import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.medops.runbook.plugins.module_utils.flag_common import FlagError, desired_state
from ansible_collections.medops.runbook.plugins.module_utils.flag_envfile import EnvFileFlags, env_key
from ansible_collections.medops.runbook.plugins.module_utils.flag_unleash import UnleashFlags, check_unleash_params
from ansible_collections.medops.runbook.plugins.module_utils.redis_connect import (
    REDIS_IMPORT_ERROR, RedisConnectError, check_params, redis_argument_spec)

BACKEND_OPTIONS = dict(
    envfile=("path", "create", "mode", "prefix", "rollout_suffix"),
    unleash=("api_url", "api_token", "project", "environment", "flag_type", "description", "validate_certs", "timeout"),
    redis=("key",) + tuple(redis_argument_spec()),
)
REQUIRED = dict(envfile=("path",), unleash=("api_url", "api_token"), redis=("key",))


def argument_spec():
    spec = dict(
        backend=dict(type="str", default="envfile", choices=["envfile", "unleash", "redis"]),
        name=dict(type="str", required=True),
        state=dict(type="str", default="enabled", choices=["enabled", "disabled", "absent"]),
        rollout=dict(type="int"),
        rollout_absent=dict(type="bool", default=False),
        path=dict(type="path"),
        create=dict(type="bool", default=False),
        mode=dict(type="str", default="0600"),
        prefix=dict(type="str", default="FEATURE_FLAG_"),
        rollout_suffix=dict(type="str", default="_ROLLOUT"),
        api_url=dict(type="str"),
        api_token=dict(type="str", no_log=True),
        project=dict(type="str", default="default"),
        environment=dict(type="str", default="development"),
        flag_type=dict(type="str", default="release",
                       choices=["release", "experiment", "operational", "kill-switch", "permission"]),
        description=dict(type="str"),
        validate_certs=dict(type="bool", default=True),
        timeout=dict(type="float", default=10),
        key=dict(type="str", no_log=False),
    )
    spec.update(redis_argument_spec())
    return spec


def check_options(module):
    """Bad combinations the spec cannot express; FlagError with the reason."""
    params = module.params
    backend = params["backend"]
    if not params["name"] or not params["name"].strip():
        raise FlagError("name must not be empty")
    if params["rollout"] is not None:
        if not 0 <= params["rollout"] <= 100:
            raise FlagError("rollout must be between 0 and 100 (a percentage), got %s" % params["rollout"])
        if params["state"] == "absent":
            raise FlagError("rollout cannot be combined with state=absent (an absent flag has no rollout)")
        if params["rollout_absent"]:
            raise FlagError("rollout and rollout_absent=true are mutually exclusive: give a percentage "
                            "or ask for no rollout value, not both")
    for option in REQUIRED[backend]:
        if not params[option]:
            raise FlagError("backend=%s needs %s" % (backend, option))
    spec = module.argument_spec
    for other, options in BACKEND_OPTIONS.items():
        if other == backend:
            continue
        for option in options:
            if option not in BACKEND_OPTIONS[backend] and params.get(option) != spec[option].get("default"):
                raise FlagError("%s is an option of backend=%s, not of backend=%s" % (option, other, backend))
    if backend == "envfile":
        if not params["rollout_suffix"]:
            raise FlagError("rollout_suffix must not be empty (the rollout would overwrite the flag itself)")
        try:
            if not 0 <= int(params["mode"], 8) <= 0o7777:
                raise ValueError()
        except ValueError:
            raise FlagError("mode must be octal permissions such as 0600, got %r" % params["mode"])
    elif backend == "unleash":
        check_unleash_params(params)
    else:
        if REDIS_IMPORT_ERROR:
            module.fail_json(msg=missing_required_lib("redis"), exception=REDIS_IMPORT_ERROR)
        try:
            check_params(params)
        except RedisConnectError as exc:
            raise FlagError(str(exc))


def make_store(params):
    backend = params["backend"]
    if backend == "envfile":
        key = env_key(params["name"], params["prefix"])
        store = EnvFileFlags(params["path"], key, key + params["rollout_suffix"], params["create"], int(params["mode"], 8))
        return store, dict(path=params["path"], key=key, rollout_key=store.rollout_key)
    if backend == "unleash":
        store = UnleashFlags(params)
        return store, dict(project=params["project"], environment=params["environment"], name=params["name"])
    from ansible_collections.medops.runbook.plugins.module_utils.flag_redis import RedisFlags
    store = RedisFlags(params, params["key"], params["name"])
    return store, dict(key=params["key"], field=params["name"], rollout_field=store.rollout_field)


def run(module):
    params = module.params
    check_options(module)
    store, where = make_store(params)
    before = store.read()
    after = desired_state(before, params["state"], params["rollout"], params["rollout_absent"])
    changed = store.plan(before, after, params["rollout_absent"])
    if changed and not module.check_mode:
        store.apply()
        after = getattr(store, "observed", None) or after
    result = dict(changed=changed, before=before, after=after, backend=params["backend"], flag=where,
                  restart_required=bool(changed and params["backend"] == "envfile"),
                  writes=store.describe_writes() if hasattr(store, "describe_writes") else
                  ["%s %s" % (command, ",".join(sorted(arg))) for command, arg in getattr(store, "writes", [])])
    if params["backend"] == "envfile":
        result["writes"] = ["rewrite %s" % params["path"]] if changed else []
        if module._diff:
            result["diff"] = store.diff()
    for warning in store.warnings:
        module.warn(warning)
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    started = time.monotonic()
    try:
        result = run(module)
    except FlagError as exc:
        module.fail_json(msg=str(exc), elapsed=round(time.monotonic() - started, 3))
    except Exception as exc:  # pylint: disable=broad-except
        # a bug must still end in a message, not a traceback on the user's screen
        module.fail_json(msg="feature_flag failed unexpectedly: %s: %s" % (type(exc).__name__, exc),
                         exception=traceback.format_exc(), elapsed=round(time.monotonic() - started, 3))
    result["elapsed"] = round(time.monotonic() - started, 3)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
