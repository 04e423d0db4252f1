# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options of modules that talk to Redis with the redis Python library
    # (plugins/module_utils/redis_connect.py holds the matching argument spec).
    DOCUMENTATION = r"""
options:
  redis_url:
    description:
      - Redis URL, C(redis://[[user]:password@]host[:port][/db]) or C(rediss://...) for TLS.
      - When given, it wins over O(redis_host), O(redis_port), O(redis_db) and O(redis_password).
      - It may carry a password, so it is never logged or returned.
    type: str
  redis_host:
    description: Redis host name or address.
    type: str
    default: 127.0.0.1
  redis_port:
    description: Redis TCP port.
    type: int
    default: 6379
  redis_db:
    description: Redis database number.
    type: int
    default: 0
  redis_username:
    description: ACL user name (Redis 6+). Leave unset for the C(default) user.
    type: str
  redis_password:
    description: Redis password (C(requirepass) or the ACL user's). Never logged or returned.
    type: str
  redis_tls:
    description: Connect over TLS (implied by a C(rediss://) URL).
    type: bool
    default: false
  redis_validate_certs:
    description: With TLS, verify the server's certificate and host name.
    type: bool
    default: true
  redis_ca_path:
    description: With TLS, PEM file of the CA that signed the server's certificate.
    type: path
  redis_timeout:
    description: Seconds to wait for the connection and for each Redis reply.
    type: float
    default: 10
requirements:
  - redis (Python library) 4.1 or later
"""
