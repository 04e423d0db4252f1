# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which blue_green slot nginx sends traffic to, read from the upstream file the front switch writes.

The file is what really decides where traffic goes, so the deploy reads it rather than keeping a
copy of that decision elsewhere. The filter ``medops.runbook.front_live_slot`` is ``live_slot``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# "server <host>:<port>;" as tasks/front_switch.yml writes it (an upstream block's first server).
SERVER_LINE = re.compile(r"^[ \t]*server[ \t]+[^ \t;]+:([0-9]+)[ \t]*;", re.MULTILINE)


def live_port(text):
    """The port of the upstream's first server line; None when there is none."""
    found = SERVER_LINE.search(text or "")
    return int(found.group(1)) if found else None


def live_slot(text, slots):
    """The name of the slot (name -> port) that the upstream file sends traffic to; '' when none is."""
    if not isinstance(slots, dict):
        raise TypeError("front_live_slot expects the slots as a dict of name to port, got %s" % type(slots).__name__)
    port = live_port(text)
    for name, slot_port in slots.items():
        if port is not None and str(slot_port).strip() == str(port):
            return str(name)
    return ""
