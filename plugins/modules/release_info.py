#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: release_info
short_description: What is live under an application root, one release's state, and disk space
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.attributes.check_full
description:
  - Reads, in one call, what a deploy's preflight needs to know about a host's release tree
    (see M(medops.runbook.release)) and never changes anything.
  - The live release (what C(current) points at); whether O(version) is shipped whole and whether an earlier
    failed deploy marked it bad (C(.medops-bad), with the reason it holds); the free space and the usage
    under each of O(disk_paths), and which of them have less than O(min_free_mb).
  - Without O(app_root), only the disk space is reported (the maintenance role's disk check).
author:
  - medops.runbook contributors (@medops-runbook)
options:
  app_root:
    description:
      - The application root (C(current) and C(releases/) live under it).
      - Without it, RV(live) is empty and only the disk space is reported.
    type: path
  version:
    description: A release whose state to report (RV(release)). Needs O(app_root).
    type: str
  disk_paths:
    description: Paths whose free space (the space available to an unprivileged account) and usage to measure.
    type: list
    elements: path
    default: []
  min_free_mb:
    description: MiB each of O(disk_paths) must have free; those with less are listed in RV(low_space).
    type: int
    default: 0
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

- name: How full the file systems are, and nothing else
  medops.runbook.release_info:
    disk_paths: [/srv/clinic, /var/log/clinic]
  register: disks

- name: At most 90 % used
  ansible.builtin.assert:
    that: item.value <= 90
    fail_msg: "{{ item.key }} is {{ item.value }}% full"
  loop: "{{ disks.used_percent | dict2items }}"
"""

RETURN = r"""
live:
  description: The release C(current) points at ('' when there is no C(current) link, or no O(app_root)).
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
used_percent:
  description:
    - The usage of the file system under each of O(disk_paths), in percent, as C(df -P) prints it (Capacity,
      rounded up; blocks reserved for root count as neither used nor available).
  returned: always
  type: dict
  sample: {/srv/clinic: 42}
low_space:
  description: The O(disk_paths) with less than O(min_free_mb) free, each with C(path), C(free_mb) and C(msg).
  returned: always
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.medops.runbook.plugins.module_utils.release import ReleaseError, ReleaseTree, disk_usage


def release_state(tree, version):
    if not version:
        return {}
    return dict(exists=os.path.isdir(tree.path(version)), complete=tree.complete(version), bad=tree.bad_mark(version))


def space(paths, minimum):
    usage = dict((path, disk_usage(path)) for path in paths)
    free = dict((path, mb) for path, (mb, percent) in usage.items())
    used = dict((path, percent) for path, (mb, percent) in usage.items())
    low = [dict(path=path, free_mb=mb, msg="only %d MiB free under %s; need %d" % (mb, path, minimum))
           for path, mb in free.items() if mb < minimum]
    return free, low, used


def main():
    module = AnsibleModule(
        argument_spec=dict(
            app_root=dict(type="path"),
            version=dict(type="str"),
            disk_paths=dict(type="list", elements="path", default=[]),
            min_free_mb=dict(type="int", default=0),
        ),
        required_by=dict(version="app_root"),
        supports_check_mode=True,
    )
    params = module.params
    tree = ReleaseTree(params["app_root"]) if params["app_root"] else None
    try:
        free, low, used = space(list(dict.fromkeys(params["disk_paths"])), params["min_free_mb"])
    except ReleaseError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, live=tree.live() if tree else "", release=release_state(tree, params["version"]),
                     free_mb=free, used_percent=used, low_space=low)


if __name__ == "__main__":
    main()
