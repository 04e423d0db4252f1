# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: deploy_settings_problems
short_description: What is wrong with a deploy's settings
version_added: "0.1.0"
description:
  - Checks the settings a deploy of one clinic needs before anything changes, and returns every problem at once
    (an empty list when there is none), each a sentence naming the variable to fix.
  - The release name (letters, digits, C(.), C(_), C(+), C(-); no C(..)); the strategy's own settings
    (V(release), V(blue_green), V(container)); the inventory variables listed in the C(required) key of O(_input).
author:
  - medops.runbook contributors (@medops-runbook)
options:
  _input:
    description:
      - The settings, by the short names below (the deploy role's C(deploy_*) variables without the prefix).
      - C(host), C(version), C(strategy); C(artifact_path), C(artifact_url), C(restart_command), C(service_unit);
        C(slots), C(slot_restart_command), C(slot_service_unit), C(front_upstream_file); C(container_image),
        C(container_ports), C(container_keep); C(required), a dict of inventory variable name to its value.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the deploy's settings
  ansible.builtin.fail:
    msg: "{{ problems | join(' ') }}"
  vars:
    problems: "{{ {'host': inventory_hostname, 'version': deploy_version, 'strategy': 'release'} | medops.runbook.deploy_settings_problems }}"
  when: problems | length > 0
"""

RETURN = r"""
_value:
  description: The problems found, in the order an operator would fix them; empty when the settings are good.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.medops.runbook.plugins.module_utils import deploy_settings


def deploy_settings_problems(settings):
    try:
        return deploy_settings.problems(settings)
    except TypeError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"deploy_settings_problems": deploy_settings_problems}
