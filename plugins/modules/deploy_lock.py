#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: deploy_lock
short_description: Take or release a host's deploy lock
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.attributes.check_full
description:
  - Keeps two deploys from running on one host at once. The lock is a small JSON file naming the
    holder, the run id and the time it was taken.
  - Taking a lock that another run holds fails with a message naming that holder. A lock older than
    O(stale_after_minutes) is stale; it is broken only when O(break_stale=true).
  - Taking a lock this run (same O(run_id)) already holds changes nothing, so a re-run is idempotent.
  - Releasing only removes a lock this run holds, unless O(force=true); another run's lock is left alone.
author:
  - medops.runbook contributors (@medops-runbook)
options:
  path:
    description: The lock file. Its directory must exist.
    type: path
    required: true
  state:
    description: V(acquired) takes the lock, V(released) gives it back.
    type: str
    choices: [acquired, released]
    default: acquired
  run_id:
    description: Identifies this deploy run; the same for every task of the run.
    type: str
    required: true
  holder:
    description: Who holds the lock, for the message another run sees (for example C(alice@ops-laptop)).
    type: str
    default: unknown
  stale_after_minutes:
    description: Age in minutes after which another run's lock counts as stale.
    type: int
    default: 60
  break_stale:
    description: Take over a stale lock. A lock younger than O(stale_after_minutes) is never broken.
    type: bool
    default: false
  force:
    description: With O(state=released), remove the lock whoever holds it.
    type: bool
    default: false
notes:
  - Creating the lock uses C(O_CREAT|O_EXCL), so two runs racing for a free lock cannot both win.
"""

EXAMPLES = r"""
- name: Take the deploy lock
  medops.runbook.deploy_lock:
    path: /srv/clinic/deploy.lock
    run_id: "{{ deploy_run_id }}"
    holder: "{{ lookup('ansible.builtin.env', 'USER') }}@{{ inventory_hostname }}"
    stale_after_minutes: 30

- name: Release it whatever happened
  medops.runbook.deploy_lock:
    path: /srv/clinic/deploy.lock
    run_id: "{{ deploy_run_id }}"
    state: released
"""

RETURN = r"""
lock:
  description: The lock as it is after the task (with O(state=acquired)).
  returned: when state is acquired
  type: dict
  sample: {"holder": "alice@ops", "run_id": "20261123T101500-ab12", "acquired_at": "2026-11-23T10:15:00Z"}
previous:
  description: The lock found before the task, with its C(age_seconds); null when there was none.
  returned: always
  type: dict
broke_stale:
  description: Whether a stale lock of another run was broken.
  returned: when state is acquired
  type: bool
held_by_other:
  description: With O(state=released), the lock belongs to another run and was left in place.
  returned: when state is released
  type: bool
path:
  description: The lock file.
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medops.runbook.plugins.module_utils import deploy_state


def check_params(module):
    """Refuse what the spec's types let through."""
    params = module.params
    if not params["run_id"].strip():
        module.fail_json(msg="run_id must not be empty")
    if params["stale_after_minutes"] < 1:
        module.fail_json(msg="stale_after_minutes must be at least 1, got %d" % params["stale_after_minutes"])


def main():
    module = AnsibleModule(
        argument_spec=deploy_state.state_file_argument_spec(
            ["acquired", "released"],
            run_id=dict(type="str", required=True),
            holder=dict(type="str", default="unknown"),
            stale_after_minutes=dict(type="int", default=60),
            break_stale=dict(type="bool", default=False),
            force=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    check_params(module)
    params = module.params
    lock = deploy_state.DeployLock(params["path"])

    def work():
        if params["state"] == "acquired":
            return lock.acquire(params["holder"], params["run_id"], params["stale_after_minutes"] * 60,
                                break_stale=params["break_stale"], check_mode=module.check_mode)
        return lock.release(params["run_id"], force=params["force"], check_mode=module.check_mode)

    deploy_state.exit_with(module, "lock file", work)


if __name__ == "__main__":
    main()
