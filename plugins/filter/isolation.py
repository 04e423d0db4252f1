# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The documentation of each filter is in a file of its name beside this one:
# isolation_leaks.yml and isolation_row.yml.

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
