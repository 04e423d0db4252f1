#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: deploy_record
short_description: Append to, or read, a host's hash-chained deployment record
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.attributes.check_full
description:
  - Keeps an append-only record of deploys on a host, one JSON object per line. Each entry holds the
    sha256 of the previous one, so an edited, inserted or removed line shows as a broken chain.
  - A deploy appends a V(started) entry before it changes anything and a V(finished) entry with its
    outcome at the end. A V(started) entry without its V(finished) twin is an interrupted run, which
    O(state=read) reports. A V(notified) entry, appended after V(finished), keeps which notifications
    of the run reached their targets (C(notifications)); it changes no outcome.
  - O(state=read) also answers which release a rollback should go back to (RV(rollback_target)), that is
    the newest release that deployed successfully, is not live now, and never failed later.
author:
  - medops.runbook contributors (@medops-runbook)
options:
  path:
    description: The record file (JSON lines). Created on the first append; its directory must exist.
    type: path
    required: true
  state:
    description: V(appended) adds an entry; V(read) changes nothing and summarises the record.
    type: str
    choices: [appended, read]
    default: appended
  phase:
    description: Which entry of a run this is. Required with O(state=appended).
    type: str
    choices: [started, finished, notified]
  run_id:
    description: The deploy run this entry belongs to. Required with O(state=appended).
    type: str
  fields:
    description:
      - What to record, for example C(who), C(version_from), C(version_to), C(steps) (name and
        duration of each step), C(backup_id), C(outcome) (V(success), V(rolled_back), V(failed)).
      - Never put secrets here; the record is meant to be read by people.
    type: dict
    default: {}
  current_version:
    description: With O(state=read), the version live now, so RV(rollback_target) can skip it.
    type: str
  recent:
    description: With O(state=read), how many of the newest entries to return in RV(recent_entries).
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: Record that the deploy started
  medops.runbook.deploy_record:
    path: /srv/clinic/deployments.jsonl
    phase: started
    run_id: "{{ deploy_run_id }}"
    fields:
      who: "{{ deploy_operator }}"
      version_from: "1.0.0"
      version_to: "1.1.0"

- name: Find the release to roll back to
  medops.runbook.deploy_record:
    path: /srv/clinic/deployments.jsonl
    state: read
    current_version: "1.1.0"
  register: record
"""

RETURN = r"""
entry:
  description: The entry appended (or, in check mode, the one that would be).
  returned: when state is appended
  type: dict
entries:
  description: Number of entries in the record.
  returned: when state is read
  type: int
chain_valid:
  description: Whether every entry's hash and back-link hold.
  returned: when state is read
  type: bool
chain_broken_at:
  description: Zero-based index of the first entry that breaks the chain, or null.
  returned: when state is read
  type: int
last:
  description: The newest entry.
  returned: when state is read
  type: dict
last_success:
  description: The newest V(finished) entry whose outcome is V(success).
  returned: when state is read
  type: dict
good_versions:
  description: Versions that deployed successfully, oldest first.
  returned: when state is read
  type: list
  elements: str
bad_versions:
  description: Versions whose deploy was rolled back or failed.
  returned: when state is read
  type: list
  elements: str
interrupted:
  description: V(started) entries whose run never recorded a V(finished) entry.
  returned: when state is read
  type: list
  elements: dict
rollback_target:
  description: The release a rollback should go back to, or null when there is none.
  returned: when state is read
  type: str
recent_entries:
  description: The O(recent) newest entries, oldest first (empty when O(recent=0)).
  returned: when state is read
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medops.runbook.plugins.module_utils import deploy_state


def main():
    module = AnsibleModule(
        argument_spec=deploy_state.state_file_argument_spec(
            ["appended", "read"],
            phase=dict(type="str", choices=["started", "finished", "notified"]),
            run_id=dict(type="str"),
            fields=dict(type="dict", default={}),
            current_version=dict(type="str"),
            recent=dict(type="int", default=0),
        ),
        required_if=[("state", "appended", ("phase", "run_id"))],
        supports_check_mode=True,
    )
    params = module.params
    if params["state"] == "read" and params["recent"] < 0:
        module.fail_json(msg="recent must be 0 or more, got %d" % params["recent"])
    record = deploy_state.DeploymentRecord(params["path"])

    def work():
        if params["state"] == "read":
            return dict(changed=False, **record.summary(params["current_version"], params["recent"]))
        entry = record.append(dict(params["fields"], run_id=params["run_id"]), params["phase"], check_mode=module.check_mode)
        return dict(changed=True, entry=entry, path=params["path"])

    deploy_state.exit_with(module, "deployment record", work)


if __name__ == "__main__":
    main()
