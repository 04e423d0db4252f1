# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The documentation of front_live_slot is in front_live_slot.yml beside this file.

from ansible_collections.medops.runbook.plugins.module_utils import front_upstream
from ansible_collections.medops.runbook.plugins.plugin_utils.filters import filter_of


class FilterModule(object):
    def filters(self):
        return {"front_live_slot": filter_of(front_upstream.live_slot, errors=TypeError)}
