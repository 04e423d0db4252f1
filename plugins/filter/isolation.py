# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: isolation_leaks
short_description: The leaks playbooks/isolation_check.yml's probes of one clinic found
version_added: "0.1.0"
description:
  - Turns the loop results of the isolation probes (database logins, API tokens, shared files) of one
    clinic against its peers into sentences naming each leak. A probe that could not tell (no answer,
    an unexpected error) is a finding too.
  - The same plugin file holds C(isolation_row), one table line of a clinic's report.
author:
  - medops.runbook contributors (@medops-runbook)
positional: clinic, peers
options:
  _input:
    description: Dict with the loop results C(database), C(api) and C(files), each in C(peers) order.
    type: dict
    required: true
  clinic:
    description: The probing clinic's code.
    type: str
    required: true
  peers:
    description: The other clinics' codes, in the order the probes looped over them.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: Note what leaked
  vars:
    probes: {database: "{{ db.results }}", api: "{{ api.results }}", files: "{{ files.results }}"}
  ansible.builtin.set_fact:
    leaks: "{{ probes | medops.runbook.isolation_leaks('kin', ['lub', 'gom']) }}"
"""

RETURN = r"""
_value:
  description: One sentence per leak, empty when the clinic is isolated.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.medops.runbook.plugins.module_utils.isolation import leaks, row


def isolation_leaks(results, clinic, peers):
    if not isinstance(results, dict):
        raise AnsibleFilterError("isolation_leaks expects a dict of probe results, got %s" % type(results).__name__)
    return leaks(results, clinic, list(peers))


def isolation_row(report):
    return row(report)


class FilterModule(object):
    def filters(self):
        return {"isolation_leaks": isolation_leaks, "isolation_row": isolation_row}
