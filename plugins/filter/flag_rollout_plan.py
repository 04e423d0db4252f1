# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The documentation of flag_rollout_plan is in flag_rollout_plan.yml beside this file.

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
