# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # What check and diff mode mean for this collection's modules; each module states its support:
    #   extends_documentation_fragment: [medops.runbook.attributes]
    #   attributes: {check_mode: {support: full}, diff_mode: {support: partial, details: ...}}
    # or, for the common case, takes it from the fragment below as well:
    #   extends_documentation_fragment: [medops.runbook.attributes, medops.runbook.attributes.check_full]
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check mode), when in diff mode.
"""

    # Full check mode, no diff: most of the collection's modules.
    CHECK_FULL = r"""
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
"""
