# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: health_verdict
short_description: A clinic's health verdict from the health check's probe results
version_added: "0.1.0"
description:
  - Classifies a clinic healthy, degraded or down from the results the health_check role registered,
    and lists the problems found (probe failures, backup age, expiring certificates, paused queues,
    waiting or failed jobs over their limits, a missing process or port, error lines in the service
    log). Used by the health_check role.
author:
  - medops.runbook contributors (@medops-runbook)
positional: clinic, now
options:
  _input:
    description:
      - The probe results, a dict with C(service), C(database), C(redis), C(queues), C(tls), C(process), C(logs),
        C(backups) (files found) and C(far_copy).
    type: dict
    required: true
  clinic:
    description: The clinic's code, for the report.
    type: str
    required: true
  now:
    description: The current time, seconds since the epoch (backup age).
    type: float
    required: true
  backup_max_age_hours:
    description: Age after which the newest backup is a problem.
    type: float
    default: 26
  queue_max_waiting:
    description: Waiting jobs a queue may hold before it is a problem.
    type: int
    default: 1000
  queue_max_failed:
    description: Failed jobs a queue may hold before it is a problem.
    type: int
    default: 100
  log_max_errors:
    description: Error lines the service log may hold in its window before it is a problem.
    type: int
    default: 10
  far_copy_max_age_hours:
    description: Age after which the newest far copy (C(far_copy), a backup_copy O(medops.runbook.backup_copy#module:state=listed) result) is a problem.
    type: float
    default: 26
"""

EXAMPLES = r"""
- name: Classify the clinic
  ansible.builtin.set_fact:
    health_check_report: "{{ probes | medops.runbook.health_verdict(clinic_code, now().timestamp()) }}"
"""

RETURN = r"""
_value:
  description: The report (clinic, status, service, database, redis, queues, newest_backup, backup_age_hours, process_pids, log_errors, log_excerpts, problems).
  type: dict
"""

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
