#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_info
short_description: What is live under an application root, one release's state, and free disk space
version_added: "0.1.0"
description:
  - Reads, in one call, what a deploy's preflight needs to know about a host's release tree
    (see M(medops.runbook.release)) and never changes anything.
  - The live release (what C(current) points at); whether O(version) is shipped whole and whether an earlier
    failed deploy marked it bad (C(.medops-bad), with the reason it holds); the free space under each of
    O(disk_paths), and which of them have less than O(min_free_mb).
author:
  - medops.runbook contributors (@medops-runbook)
options:
  app_root:
    description: The application root (C(current) and C(releases/) live under it).
    type: path
    required: true
  version:
    description: A release whose state to report (RV(release)).
    type: str
  disk_paths:
    description: Paths whose free space to measure (the space available to an unprivileged account).
    type: list
    elements: path
    default: []
  min_free_mb:
    description: MiB each of O(disk_paths) must have free; those with less are listed in RV(low_space).
    type: int
    default: 0
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.attributes.check_full
"""

EXAMPLES = r"""
- name: What is live, is 1.1.0 marked bad, is there room for a deploy
  medops.runbook.release_info:
    app_root: /srv/clinic
    version: 1.1.0
    disk_paths: [/srv/clinic, /var/backups/clinic]
    min_free_mb: 1024
  register: release_state

- name: Refuse to deploy onto a nearly full disk
  ansible.builtin.assert:
    that: release_state.low_space | length == 0
    fail_msg: "{{ release_state.low_space | map(attribute='msg') | join('; ') }}"
"""

RETURN = r"""
live:
  description: The release C(current) points at ('' when there is no C(current) link).
  returned: always
  type: str
  sample: 1.0.0
release:
  description: The state of O(version) (empty when O(version) is not given).
  returned: always
  type: dict
  contains:
    exists:
      description: Whether C(releases/<version>) exists.
      type: bool
    complete:
      description: Whether it was shipped whole (it holds C(.medops-complete)).
      type: bool
    bad:
      description: Why an earlier deploy marked it bad ('' when it was not).
      type: str
free_mb:
  description: MiB free under each of O(disk_paths).
  returned: always
  type: dict
  sample: {/srv/clinic: 20480}
low_space:
  description: The O(disk_paths) with less than O(min_free_mb) free, each with C(path), C(free_mb) and C(msg).
  returned: always
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.medops.runbook.plugins.module_utils.release import ReleaseError, ReleaseTree, free_mb


def release_state(tree, version):
    if not version:
        return {}
    return dict(exists=os.path.isdir(tree.path(version)), complete=tree.complete(version), bad=tree.bad_mark(version))


def space(paths, minimum):
    free = dict((path, free_mb(path)) for path in paths)
    low = [dict(path=path, free_mb=mb, msg="only %d MiB free under %s; need %d" % (mb, path, minimum))
           for path, mb in free.items() if mb < minimum]
    return free, low


def main():
    module = AnsibleModule(
        argument_spec=dict(
            app_root=dict(type="path", required=True),
            version=dict(type="str"),
            disk_paths=dict(type="list", elements="path", default=[]),
            min_free_mb=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    tree = ReleaseTree(params["app_root"])
    try:
        free, low = space(list(dict.fromkeys(params["disk_paths"])), params["min_free_mb"])
    except ReleaseError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, live=tree.live(), release=release_state(tree, params["version"]), free_mb=free, low_space=low)


if __name__ == "__main__":
    main()
