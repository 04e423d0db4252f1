# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # TLS and authentication options of modules that talk HTTP(S) through ansible.module_utils.urls.
    DOCUMENTATION = r"""
options:
  follow_redirects:
    description: Which redirects to follow (as in M(ansible.builtin.uri)).
    type: str
    default: safe
    choices: [all, safe, none]
  use_proxy:
    description: Use proxies from the environment.
    type: bool
    default: true
  validate_certs:
    description: Verify the server's TLS certificate. Prefer O(ca_path) to turning this off.
    type: bool
    default: true
  ca_path:
    description: PEM file of the CA certificate(s) that signed the server's certificate (a self-signed certificate itself works).
    type: path
  client_cert:
    description: PEM client certificate for mutual TLS (it may also hold the key).
    type: path
  client_key:
    description: PEM private key of O(client_cert) when it is a separate file.
    type: path
  url_username:
    description: User for HTTP basic authentication (sent with the first request).
    type: str
  url_password:
    description: Password for HTTP basic authentication. Never logged.
    type: str
  bearer_token:
    description: "Token sent as C(Authorization: Bearer ...). Never logged. Mutually exclusive with O(url_username)."
    type: str
"""
