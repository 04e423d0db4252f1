#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: container_release
short_description: Run a clinic's release as a container through the Docker API
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.docker
  - medops.runbook.attributes
  - medops.runbook.attributes.check_full
description:
  - Manages the containers of one clinic, one per release version, through the Docker API with the docker Python SDK.
    Works with Docker and with podman's Docker-compatible API (C(podman system service)).
  - Each container is named C(<clinic>-<version>) and labelled C(medops.runbook.clinic) and
    C(medops.runbook.version), so the clinic's releases are found by label; other containers are never touched.
  - V(present) makes sure the image C(<image>:<tag>) is on the host (pulled when missing, see O(pull)) and, with
    O(digest), that it is exactly the expected image.
  - V(started) also runs the version's container on one of O(ports), the one the O(live_version) does not use, so
    the new version starts beside the live one and can be health-checked before any traffic moves. A stopped
    container of the version is started again when nothing about it changed, and recreated when its image, port
    or settings did (a hash of them is kept in the C(medops.runbook.config) label).
  - V(stopped) stops the version's container (or, with O(others=true), every other running container of the
    clinic); stopped containers are kept, so an earlier version can be started again for a rollback.
  - V(absent) removes them; V(pruned) removes the clinic's stopped containers beyond the O(keep) newest;
    V(read) only reports.
  - Running the same task twice changes nothing the second time.
author:
  - medops.runbook contributors (@medops-runbook)
options:
  state:
    description: What to make true; see the description.
    type: str
    choices: [present, started, stopped, absent, pruned, read]
    default: started
  clinic:
    description: The clinic code; names the containers and selects them by label.
    type: str
    required: true
  version:
    description:
      - The release version (letters, digits, C(.), C(_), C(+), C(-)). Required for every state but V(pruned) and V(read).
      - With O(state=pruned), a version that is never removed.
    type: str
  image:
    description:
      - The image repository, for example C(registry.example.org/medops/clinic-service). A reference that already
        names a tag or a digest (C(repo:tag), C(repo@sha256:...)) is used as it is.
      - Required with O(state=present) and O(state=started).
    type: str
  tag:
    description: The image tag of this version; defaults to O(version).
    type: str
  digest:
    description:
      - "C(sha256:<hex>): the image must have this id or this registry (manifest) digest, else the task fails
        and nothing is started."
    type: str
  pull:
    description:
      - V(missing) pulls the image only when it is not on the host, V(always) pulls it every time (a moved tag is
        picked up), V(never) fails when it is missing.
    type: str
    choices: [missing, always, never]
    default: missing
  registry_username:
    description: User for the image registry when pulling. Goes with O(registry_password).
    type: str
  registry_password:
    description: Password or token for the image registry. Never logged or returned.
    type: str
  ports:
    description:
      - The local ports the clinic's versions take turns on, normally two. Required with O(state=started).
      - The version gets the port its running container already has, else one the O(live_version) does not use
        (its stopped container's old port when free). A port held by a running container that is neither live nor
        this version (left by an interrupted run) is freed by stopping that container.
    type: list
    elements: int
  live_version:
    description: The version serving traffic now; its container and port are never touched by O(state=started).
    type: str
  env:
    description:
      - Environment variables of the container. It may hold secrets (the option is never logged; note that anyone
        who can use the Docker API can read a container's environment).
    type: dict
    default: {}
  port_env:
    description:
      - Name of an environment variable set to the port the service must listen on (the chosen port with
        O(network_mode=host), else O(container_port)). Empty for none.
    type: str
    default: PORT
  network_mode:
    description:
      - V(host) shares the host's network (the service listens on the chosen port itself); any other value (V(bridge),
        a network name) publishes O(container_port) on O(bind_address) at the chosen port.
    type: str
    default: host
  container_port:
    description: Port the service listens on inside the container when O(network_mode) is not V(host); defaults to the chosen port.
    type: int
  bind_address:
    description: Host address the port is published on when O(network_mode) is not V(host).
    type: str
    default: 127.0.0.1
  volumes:
    description: Bind mounts, C(/host/path:/container/path[:ro]).
    type: list
    elements: str
    default: []
  command:
    description: Command (argv) to run instead of the image's default.
    type: list
    elements: str
  restart_policy:
    description: What the engine does when the container exits.
    type: str
    choices: ["no", always, unless-stopped, on-failure]
    default: unless-stopped
  stop_timeout:
    description: Seconds the service gets between SIGTERM and SIGKILL when a container stops.
    type: int
    default: 30
  start_timeout:
    description:
      - Seconds to wait until the engine reports a started container running; it must then keep running for a
        second (neither exiting nor restarted) to count as started. A container that exits fails the task with its
        exit code and the end of its output. Whether the service answers is checked separately
        (medops.runbook.health_wait).
    type: float
    default: 10
  others:
    description: With O(state=stopped) or O(state=absent), act on every container of the clinic except O(version)'s.
    type: bool
    default: false
  keep:
    description: With O(state=pruned), how many of the clinic's stopped containers to keep (the newest).
    type: int
    default: 3
  protect:
    description: With O(state=pruned), versions whose containers are never removed.
    type: list
    elements: str
    default: []
notes:
  - Images are never built here. On a host that cannot reach a registry, load or build them beforehand and use O(pull=never)
    or O(pull=missing).
  - Containers are never removed by O(state=started) unless they must be recreated; a recreated container that was running
    is stopped gracefully first.
seealso:
  - module: medops.runbook.health_wait
"""

EXAMPLES = r"""
- name: Make sure the image of 1.1.0 is on the host, exactly the one that was tested
  medops.runbook.container_release:
    state: present
    clinic: kin
    version: 1.1.0
    image: registry.example.org/medops/clinic-service
    digest: "sha256:6f1a0c9d1e7b4a2f8c3d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b"

- name: Start 1.1.0 beside the live 1.0.0 on the idle one of two ports
  medops.runbook.container_release:
    state: started
    clinic: kin
    version: 1.1.0
    image: registry.example.org/medops/clinic-service
    ports: [8101, 8102]
    live_version: 1.0.0
    env:
      CLINIC_SERVICE_CONFIG: /srv/clinic/shared/service.conf
    volumes:
      - /srv/clinics/kin/shared:/srv/clinic/shared
    docker_host: unix:///run/podman/podman.sock
  register: kin_new

- name: Once traffic has moved to it, stop every other container of the clinic (kept for a rollback)
  medops.runbook.container_release:
    state: stopped
    clinic: kin
    version: 1.1.0
    others: true

- name: Keep the three newest stopped containers
  medops.runbook.container_release:
    state: pruned
    clinic: kin
    keep: 3
    protect: [1.1.0, 1.0.0]

- name: List the clinic's containers
  medops.runbook.container_release:
    state: read
    clinic: kin
  register: kin_containers
"""

RETURN = r"""
state:
  description: The O(state) asked for.
  returned: always
  type: str
clinic:
  description: The clinic.
  returned: always
  type: str
version:
  description: The version the task was about.
  returned: always
  type: str
action:
  description: With O(state=started), what happened to the version's container, V(created), V(recreated), V(started) or V(unchanged).
  returned: when O(state=started)
  type: str
  sample: created
reasons:
  description: With O(state=started), why the container was recreated.
  returned: when O(state=started)
  type: list
  elements: str
  sample: ["port 8101 -> 8102"]
port:
  description: With O(state=started), the port the version serves on (predicted in check mode).
  returned: when O(state=started)
  type: int
  sample: 8102
pulled:
  description: Whether the image was pulled (would be, in check mode).
  returned: when the image was looked at
  type: bool
image:
  description: The image of the version.
  returned: with O(state=present) and O(state=started), and with O(state=read) when O(image) and O(version) are given
  type: dict
  sample: {"ref": "localhost/clinic-service:1.1.0", "present": true, "id": "sha256:bf5c...", "repo_digests": [], "tags": []}
container:
  description: The version's container after the task (before it, in check mode); null when there is none.
  returned: when O(version) is given
  type: dict
  sample:
    name: kin-1.1.0
    id: 0c2ab4e1f9d3
    clinic: kin
    version: 1.1.0
    port: 8102
    status: running
    running: true
    exit_code: 0
    image: localhost/clinic-service:1.1.0
    image_id: "sha256:bf5c..."
    created: "2026-11-23T12:01:49.559114645Z"
    started_at: "2026-11-23T12:01:49.901524312Z"
    config: 3f1e...
stopped:
  description: Names of the containers this task stopped (would stop, in check mode).
  returned: always
  type: list
  elements: str
removed:
  description: Names of the containers this task removed (would remove, in check mode).
  returned: always
  type: list
  elements: str
containers:
  description: Every container of the clinic after the task (before it, in check mode), oldest first, in the shape of RV(container).
  returned: always
  type: list
  elements: dict
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.medops.runbook.plugins.module_utils.container_docker import (
    DOCKER_IMPORT_ERROR, ContainerError, DockerBackend, ReleaseRun, check_params, docker_argument_spec)


def argument_spec():
    spec = dict(
        state=dict(type="str", choices=["present", "started", "stopped", "absent", "pruned", "read"], default="started"),
        clinic=dict(type="str", required=True),
        version=dict(type="str"),
        image=dict(type="str"),
        tag=dict(type="str"),
        digest=dict(type="str"),
        pull=dict(type="str", choices=["missing", "always", "never"], default="missing"),
        registry_username=dict(type="str"),
        registry_password=dict(type="str", no_log=True),
        ports=dict(type="list", elements="int"),
        live_version=dict(type="str"),
        env=dict(type="dict", default={}, no_log=True),
        port_env=dict(type="str", default="PORT"),
        network_mode=dict(type="str", default="host"),
        container_port=dict(type="int"),
        bind_address=dict(type="str", default="127.0.0.1"),
        volumes=dict(type="list", elements="str", default=[]),
        command=dict(type="list", elements="str"),
        restart_policy=dict(type="str", choices=["no", "always", "unless-stopped", "on-failure"], default="unless-stopped"),
        stop_timeout=dict(type="int", default=30),
        start_timeout=dict(type="float", default=10),
        others=dict(type="bool", default=False),
        keep=dict(type="int", default=3),
        protect=dict(type="list", elements="str", default=[]),
    )
    spec.update(docker_argument_spec())
    return spec


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        check_params(params)
    except ContainerError as exc:
        module.fail_json(msg=str(exc), changed=False)
    if DOCKER_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)
    run = None
    try:
        run = ReleaseRun(DockerBackend(params), params, check_mode=module.check_mode)
        result = run.run()
    except ContainerError as exc:
        # What was done before the failure (a container created, another stopped) is still reported.
        partial = dict(run.result) if run else dict(changed=False)
        partial.update(exc.result)
        module.fail_json(msg=str(exc), **partial)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
