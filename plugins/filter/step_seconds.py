# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The documentation of step_seconds is in step_seconds.yml beside this file.

from ansible_collections.medops.runbook.plugins.module_utils import step_times
from ansible_collections.medops.runbook.plugins.plugin_utils.filters import filter_of


class FilterModule(object):
    def filters(self):
        return {"step_seconds": filter_of(step_times.step_seconds, errors=ValueError)}
