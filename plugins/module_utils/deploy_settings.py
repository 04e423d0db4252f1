# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with a deploy's settings, before anything changes on the clinic.

The deploy role's preflight asks once (the filter ``medops.runbook.deploy_settings_problems``)
and fails with every problem at once: the release name, each strategy's own settings and the
inventory variables a deploy needs. One task instead of one assert per question, and the rules
live here, unit-tested, instead of in Jinja.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible.module_utils.six import string_types

RELEASE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
SLOT_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def _set(value):
    return value is not None and len(value if isinstance(value, (string_types, list, dict)) else str(value)) > 0


def _port(value):
    text = str(value)
    return int(text) if text.isdigit() and 1 <= int(text) <= 65535 else None


def version_problems(s):
    version = str(s.get("version", ""))
    if RELEASE_NAME.match(version) and ".." not in version:
        return []
    return ["deploy_version must be a release name (letters, digits, '.', '_', '+', '-'; got '%s')" % version]


def release_problems(s):
    if (_set(s.get("artifact_path")) or _set(s.get("artifact_url"))) and (_set(s.get("restart_command")) or _set(s.get("service_unit"))):
        return []
    return ["The release strategy needs one of deploy_artifact_path or deploy_artifact_url, and one of "
            "deploy_restart_command or deploy_service_unit."]


def _slots_ok(slots):
    if not isinstance(slots, dict) or len(slots) != 2:
        return False
    ports = [_port(port) for port in slots.values()]
    return all(SLOT_NAME.match(str(name)) for name in slots) and None not in ports and len(set(ports)) == 2


def blue_green_problems(s):
    problems = []
    if not ((_set(s.get("artifact_path")) or _set(s.get("artifact_url")))
            and (_set(s.get("slot_restart_command")) or _set(s.get("slot_service_unit")))
            and _set(s.get("front_upstream_file"))):
        problems.append("The blue_green strategy needs one of deploy_artifact_path or deploy_artifact_url, one of "
                        "deploy_slot_restart_command or deploy_slot_service_unit (clinic_slot_restart_command), and "
                        "deploy_front_upstream_file (clinic_front_upstream_file) on %s." % s.get("host", ""))
    slots = s.get("slots")
    if not _slots_ok(slots):
        problems.append("deploy_slots (clinic_slot_ports) must name exactly two slots, each with its own local port, e.g. "
                        "{blue: 8081, green: 8082}; %s has %s." % (s.get("host", ""), json.dumps(slots, default=str)))
    return problems


def container_problems(s):
    ports = s.get("container_ports") or []
    numbers = [_port(port) for port in ports] if isinstance(ports, list) else []
    keep = str(s.get("container_keep", ""))
    if (_set(s.get("container_image")) and len(numbers) == 2 and None not in numbers and len(set(numbers)) == 2
            and _set(s.get("front_upstream_file")) and keep.isdigit()):
        return []
    return ["The container strategy needs deploy_container_image (or clinic_container_image), two different local ports in "
            "deploy_container_ports (or clinic_container_ports; got %s), deploy_front_upstream_file (or "
            "clinic_front_upstream_file: the file nginx includes in the clinic's upstream block) and deploy_container_keep >= 0."
            % json.dumps(ports, default=str)]


STRATEGIES = {"release": release_problems, "blue_green": blue_green_problems, "container": container_problems}


def required_problems(s):
    return ["%s is not set for %s: define it in the inventory" % (name, s.get("host", ""))
            for name, value in (s.get("required") or {}).items() if not _set(value if value is not None else "")]


def problems(settings):
    """Every problem with the deploy's settings, in the order an operator fixes them; [] when none."""
    if not isinstance(settings, dict):
        raise TypeError("deploy_settings_problems expects a dict of settings, got %s" % type(settings).__name__)
    strategy = settings.get("strategy", "release")
    check = STRATEGIES.get(strategy)
    found = version_problems(settings)
    found += check(settings) if check else ["deploy_strategy must be one of %s (got '%s')" % (", ".join(sorted(STRATEGIES)), strategy)]
    return found + required_problems(settings)
