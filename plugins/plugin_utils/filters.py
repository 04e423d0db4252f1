# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The collection's filters are module_utils functions (unit-tested without Ansible); this turns one
into a filter whose bad input ends the task with a clear message instead of a traceback."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools

from ansible.errors import AnsibleFilterError


def filter_of(function, errors=(TypeError, ValueError), prefix=""):
    """``function`` as a Jinja filter: the ``errors`` it raises on bad input become AnsibleFilterError."""
    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except errors as exc:
            raise AnsibleFilterError("%s%s" % (prefix, exc))
    return wrapped
