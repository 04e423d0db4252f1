# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: front_live_slot
short_description: The blue_green slot nginx sends traffic to
version_added: "1.2.0"
description:
  - Reads the upstream file the deploy's front switch writes (one C(server <host>:<port>;) line) and returns
    the name of the slot whose port it names, or an empty string when it names none of them (a first deploy).
author:
  - medops.runbook contributors (@medops-runbook)
positional: slots
options:
  _input:
    description: The upstream file's text.
    type: str
    required: true
  slots:
    description: The clinic's two slots, name to local port (C(deploy_slots)).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Find the live slot
  ansible.builtin.debug:
    msg: "{{ 'server 127.0.0.1:8082;' | medops.runbook.front_live_slot({'blue': 8081, 'green': 8082}) }}"
"""

RETURN = r"""
_value:
  description: The live slot's name; empty when the file names no slot's port.
  type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.medops.runbook.plugins.module_utils import front_upstream


def front_live_slot(text, slots):
    try:
        return front_upstream.live_slot(text, slots)
    except TypeError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {"front_live_slot": front_live_slot}
