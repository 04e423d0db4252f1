# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: flag_rollout_plan
short_description: The rollout steps still to run on a flag, and how to put it back
version_added: "1.2.0"
description:
  - From the flag as M(medops.runbook.feature_flag) reports it before a rollout (RV(medops.runbook.feature_flag#module:before)),
    the percentages of O(steps) still to run and the arguments that restore the flag on a breach. Used by the flag_rollout role.
  - A flag that is already enabled is never set back to a lower step; an enabled flag without a rollout value is on for
    everyone, so no step is left. A disabled or missing flag runs every step.
  - The restore is C(state=absent) for a flag that did not exist; otherwise its on/off state with its old C(rollout), or
    C(rollout_absent=true) when it had none.
author:
  - medops.runbook contributors (@medops-runbook)
positional: steps
options:
  _input:
    description: The flag before the rollout, a dict with C(exists), C(enabled) and C(rollout).
    type: dict
    required: true
  steps:
    description: The rollout's percentages, ascending.
    type: list
    elements: int
    required: true
"""

EXAMPLES = r"""
- name: Plan the rollout from where the flag starts
  ansible.builtin.set_fact:
    flag_rollout_plan: "{{ flag_start.before | medops.runbook.flag_rollout_plan([5, 25, 50, 100]) }}"
"""

RETURN = r"""
_value:
  description:
    - C(steps), the percentages still to run, and C(final), the rollout once they pass.
    - C(restore), feature_flag arguments (C(state), C(rollout_absent), C(rollout) when the flag had one).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.medops.runbook.plugins.module_utils.flag_rollout import plan


def flag_rollout_plan(before, steps):
    if not isinstance(before, dict):
        raise AnsibleFilterError("flag_rollout_plan expects feature_flag's before (a dict), got %s" % type(before).__name__)
    try:
        return plan(before, steps)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("flag_rollout_plan: steps must be whole percentages: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"flag_rollout_plan": flag_rollout_plan}
