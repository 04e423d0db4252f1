#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: env_check
short_description: Check an application's env file on its host
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.attributes.check_full
description:
  - Reads an env file (C(KEY=value) lines, C(export) and quotes allowed, as dotenv and systemd's
    C(EnvironmentFile) write them) and checks that the required keys are set and not empty, that
    secrets are long enough and that URLs parse as absolute URLs.
  - Every finding names the key, never its value, and no value is returned, so the task needs no
    C(no_log). The file is only read; the module never changes anything.
author:
  - medops.runbook contributors (@medops-runbook)
options:
  path:
    description: The env file, on the managed host.
    type: path
    required: true
  required:
    description: Keys that must be set and not empty.
    type: list
    elements: str
    default: []
  secrets:
    description: Keys holding secrets; each must be set and at least O(min_secret_length) characters long.
    type: list
    elements: str
    default: []
  min_secret_length:
    description: Shortest acceptable secret (seed runbooks ask 32 characters for signing keys).
    type: int
    default: 32
  urls:
    description: Keys holding URLs; each must be set and parse as an absolute URL (C(scheme://host...)).
    type: list
    elements: str
    default: []
  url_schemes:
    description: When given, the only schemes a URL key may use (for example C(https), C(postgresql)).
    type: list
    elements: str
    default: []
  fail_on_problems:
    description: Fail the task when any check fails; with V(false) the findings are only returned.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Check the clinic service's environment before a deploy
  medops.runbook.env_check:
    path: /srv/clinic-service/shared/app.env
    required: [NODE_ENV, CLINIC_CODE]
    secrets: [JWT_ACCESS_SECRET, JWT_REFRESH_SECRET, SESSION_SECRET]
    urls: [DATABASE_URL, REDIS_URL, API_BASE_URL]
    url_schemes: [postgresql, redis, rediss, https]
"""

RETURN = r"""
checked:
  description: Every key checked (required, secrets and URLs together), sorted.
  returned: always
  type: list
  elements: str
missing:
  description: Checked keys the file does not set.
  returned: always
  type: list
  elements: str
empty:
  description: Checked keys set to an empty value.
  returned: always
  type: list
  elements: str
short_secrets:
  description: Secret keys shorter than O(min_secret_length).
  returned: always
  type: list
  elements: str
bad_urls:
  description: URL keys whose value is not an absolute URL (or uses a scheme outside O(url_schemes)).
  returned: always
  type: list
  elements: str
problems:
  description: One sentence per finding, naming the key and never its value.
  returned: always
  type: list
  elements: str
  sample: ["JWT_ACCESS_SECRET is 20 characters long, shorter than 32", "REDIS_URL is not set"]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.medops.runbook.plugins.module_utils.env_check import check
from ansible_collections.medops.runbook.plugins.module_utils.env_file import read_values


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            required=dict(type="list", elements="str", default=[]),
            secrets=dict(type="list", elements="str", default=[], no_log=False),
            min_secret_length=dict(type="int", default=32, no_log=False),
            urls=dict(type="list", elements="str", default=[]),
            url_schemes=dict(type="list", elements="str", default=[]),
            fail_on_problems=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["min_secret_length"] < 1:
        module.fail_json(msg="min_secret_length must be at least 1, got %d" % params["min_secret_length"])
    if not (params["required"] or params["secrets"] or params["urls"]):
        module.fail_json(msg="nothing to check: give at least one key in required, secrets or urls")
    try:
        values = read_values(params["path"])
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot read the env file %s: %s" % (params["path"], exc.strerror or exc))
    result = check(values, params["required"], params["secrets"], params["min_secret_length"],
                   params["urls"], params["url_schemes"])
    if result["problems"] and params["fail_on_problems"]:
        module.fail_json(msg="%s: %s" % (params["path"], "; ".join(result["problems"])), changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
