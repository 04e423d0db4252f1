# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The documentation of health_verdict is in health_verdict.yml beside this file.

from ansible.errors import AnsibleFilterError
from ansible_collections.medops.runbook.plugins.module_utils.health_verdict import verdict


def health_verdict(results, clinic, now, backup_max_age_hours=26, queue_max_waiting=1000, queue_max_failed=100,
                   log_max_errors=10, far_copy_max_age_hours=26):
    if not isinstance(results, dict):
        raise AnsibleFilterError("health_verdict expects the dict of probe results, got %s" % type(results).__name__)
    return verdict(results, clinic, float(now), float(backup_max_age_hours), int(queue_max_waiting), int(queue_max_failed),
                   int(log_max_errors), float(far_copy_max_age_hours))


class FilterModule(object):
    def filters(self):
        return {"health_verdict": health_verdict}
