# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: step_seconds
short_description: How long each step of a run took, from the times the steps started
version_added: "0.1.0"
description:
  - Turns the marks a run sets as each step starts (C(step) and C(started), seconds since the epoch)
    into C(step) and C(seconds) per step. A step lasts until the next one starts; the last one until O(end).
  - One mark per step, instead of one before and one after, halves what timing a step costs in tasks,
    and a step that failed keeps its time too.
author:
  - medops.runbook contributors (@medops-runbook)
positional: end
options:
  _input:
    description: The marks, in the order the steps started; each a dict with C(step) and C(started).
    type: list
    elements: dict
    required: true
  end:
    description: When the last step ended, seconds since the epoch.
    type: float
    required: true
"""

EXAMPLES = r"""
- name: Record each step's time
  ansible.builtin.debug:
    msg: "{{ deploy_step_marks | medops.runbook.step_seconds(now(utc=true).timestamp()) }}"
"""

RETURN = r"""
_value:
  description: One dict per step with C(step) and C(seconds) (rounded to 10 ms), in order.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.medops.runbook.plugins.module_utils import step_times


def step_seconds(marks, end):
    try:
        return step_times.step_seconds(marks, end)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"step_seconds": step_seconds}
