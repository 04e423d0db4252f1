#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: tls_expiry
short_description: Check that TLS certificates of endpoints stay valid for N more days
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.attributes.check_full
description:
  - Connects to each endpoint, reads the certificate it presents and reports when it expires.
  - Fails when a certificate expires within O(min_days) days (unless O(fail_on_expiring=false)),
    naming every endpoint concerned. The certificate is read, not trusted, so expired and self-signed
    certificates are reported too.
  - Changes nothing; check mode runs the same checks.
author:
  - medops.runbook contributors (@medops-runbook)
options:
  endpoints:
    description: C(host:port), or C(https://host[:port]/...) URLs (port 443 by default).
    type: list
    elements: str
    required: true
  min_days:
    description: Days a certificate must still be valid.
    type: int
    default: 14
  timeout:
    description: Seconds to wait for each connection.
    type: int
    default: 10
  fail_on_expiring:
    description: Fail when a certificate expires within O(min_days). With V(false), only report.
    type: bool
    default: true
"""

EXAMPLES = r"""
- name: Refuse to deploy behind a certificate that expires within two weeks
  medops.runbook.tls_expiry:
    endpoints:
      - https://kin.clinic.example.org
      - db.kin.example.org:5433
    min_days: 14
"""

RETURN = r"""
certificates:
  description: One entry per endpoint with C(endpoint), C(not_before), C(not_after), C(days_left) and C(ok).
  returned: always
  type: list
  elements: dict
expiring:
  description: Endpoints whose certificate expires within O(min_days) days.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.parse import urlsplit
from ansible_collections.medops.runbook.plugins.module_utils.tls_certificate import CertificateError, check


def parse_endpoint(text):
    """(host, port) from ``host:port`` or an https URL; ValueError with a readable reason otherwise."""
    if "://" in text:
        parts = urlsplit(text)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError("%r: only https URLs carry a certificate" % text)
        return parts.hostname, parts.port or 443
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("%r: expected host:port or an https URL" % text)
    return host.strip("[]"), int(port)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            endpoints=dict(type="list", elements="str", required=True),
            min_days=dict(type="int", default=14),
            timeout=dict(type="int", default=10),
            fail_on_expiring=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params["endpoints"]:
        module.fail_json(msg="endpoints must list at least one endpoint")
    if params["min_days"] < 0 or params["timeout"] < 1:
        module.fail_json(msg="min_days must be 0 or more and timeout at least 1")
    try:
        targets = [parse_endpoint(endpoint) for endpoint in params["endpoints"]]
    except ValueError as exc:
        module.fail_json(msg="bad endpoint %s" % exc)
    certificates = []
    for host, port in targets:
        try:
            certificates.append(check(host, port, params["min_days"], timeout=params["timeout"]))
        except CertificateError as exc:
            module.fail_json(msg=str(exc), certificates=certificates)
    expiring = [c["endpoint"] for c in certificates if not c["ok"]]
    result = dict(changed=False, certificates=certificates, expiring=expiring)
    if expiring and params["fail_on_expiring"]:
        module.fail_json(msg="certificates expiring within %d days: %s" % (params["min_days"], ", ".join(
            "%s (%s, %.1f days left)" % (c["endpoint"], c["not_after"], c["days_left"]) for c in certificates if not c["ok"])), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
