#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: process_check
short_description: Check that a service's process runs and its port takes connections
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.attributes.check_full
description:
  - Looks for processes whose command line matches O(pattern) (optionally only those of O(user)) in
    C(/proc), and, with O(port), opens one TCP connection to O(host):O(port).
  - Fails, naming what is wrong, when no process matches or the port refuses, unless
    O(fail_on_problems=false) (then RV(problems) says it).
  - Linux only. Changes nothing; check mode runs the same checks.
author:
  - medops.runbook contributors (@medops-runbook)
options:
  pattern:
    description: Regular expression (Python syntax) searched in each process's command line.
    type: str
    required: true
  user:
    description: Only processes of this account.
    type: str
  port:
    description: TCP port the service listens on.
    type: int
  host:
    description: Address to connect to for the port check.
    type: str
    default: 127.0.0.1
  timeout:
    description: Seconds to wait for the connection.
    type: float
    default: 3
  fail_on_problems:
    description: Fail when no process matches or the port refuses. With V(false), only report.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: The clinic service runs as its account and listens on 8080
  medops.runbook.process_check:
    pattern: clinic_service serve
    user: clinic-service
    port: 8080
"""

RETURN = r"""
pids:
  description: The matching processes.
  returned: always
  type: list
  elements: int
  sample: [4242]
running:
  description: Whether any process matches.
  returned: always
  type: bool
port_open:
  description: Whether the port took a connection (V(null) without O(port)).
  returned: always
  type: bool
problems:
  description: What is wrong, one sentence each; empty when all is well.
  returned: always
  type: list
  elements: str
  sample: ["nothing accepts connections on port 8080"]
"""

import os
import pwd

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medops.runbook.plugins.module_utils.process_check import (
    ProcessCheckError, compile_pattern, matching, port_open, problems, processes)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pattern=dict(type="str", required=True),
            user=dict(type="str"),
            port=dict(type="int"),
            host=dict(type="str", default="127.0.0.1"),
            timeout=dict(type="float", default=3),
            fail_on_problems=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["port"] is not None and not 0 < params["port"] < 65536:
        module.fail_json(msg="port must be between 1 and 65535, got %d" % params["port"])
    if not os.path.isdir("/proc"):
        module.fail_json(msg="process_check reads /proc: this host has none (Linux only)")
    try:
        pattern = compile_pattern(params["pattern"])
        uid = pwd.getpwnam(params["user"]).pw_uid if params["user"] else None
    except ProcessCheckError as exc:
        module.fail_json(msg=str(exc))
    except KeyError:
        module.fail_json(msg="no account named %r on this host" % params["user"])
    # This module's own Python (and the shell that started it) carries the pattern in its arguments.
    pids = matching(processes(), pattern, uid, exclude=(os.getpid(), os.getppid()))
    open_ = port_open(params["host"], params["port"], params["timeout"]) if params["port"] else None
    found = problems(pids, params["pattern"], params["port"], open_)
    result = dict(changed=False, pids=pids, running=bool(pids), port_open=open_, problems=found)
    if found and params["fail_on_problems"]:
        module.fail_json(msg="; ".join(found), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
