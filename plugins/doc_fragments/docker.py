# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection options of modules that talk to the Docker API with the docker Python SDK
    # (plugins/module_utils/container_docker.py holds the matching argument spec).
    DOCUMENTATION = r"""
options:
  docker_host:
    description:
      - The Docker API endpoint, C(unix:///path/to/socket) or C(tcp://host:port).
      - Podman serves the same API with C(podman system service --time=0 unix:///run/podman/podman.sock);
        point this option at that socket.
      - When not given, the E(DOCKER_HOST) environment variable is used, then the default.
    type: str
    default: unix:///var/run/docker.sock
  api_version:
    description: Docker API version to speak; V(auto) asks the engine.
    type: str
    default: auto
  timeout:
    description: Seconds to wait for each API answer (stopping a container adds its O(stop_timeout)).
    type: int
    default: 60
  tls:
    description: Connect to a C(tcp://) O(docker_host) over TLS.
    type: bool
    default: false
  validate_certs:
    description: With TLS, verify the engine's certificate (against O(ca_path) when given, else the system's CAs).
    type: bool
    default: true
  ca_path:
    description: With TLS, PEM file of the CA that signed the engine's certificate. Implies O(tls).
    type: path
  client_cert:
    description: With TLS, PEM client certificate (it may also hold the key). Implies O(tls).
    type: path
  client_key:
    description: With TLS, PEM private key of O(client_cert) when it is a separate file.
    type: path
requirements:
  - docker (Python library, the Docker SDK for Python) 5.0 or later
"""
