# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The documentation of deploy_settings_problems is in deploy_settings_problems.yml beside this file.

from ansible_collections.medops.runbook.plugins.module_utils import deploy_settings
from ansible_collections.medops.runbook.plugins.plugin_utils.filters import filter_of


class FilterModule(object):
    def filters(self):
        return {"deploy_settings_problems": filter_of(deploy_settings.problems, errors=TypeError)}
