"""A one-clinic lab (real PostgreSQL, Redis, BullMQ queue) whose clinic runs as containers on
podman's Docker API behind an nginx front of the test's own, and an inventory for
playbooks/deploy.yml and playbooks/rollback.yml with deploy_strategy=container.

The images are the lab's own release artifacts (1.0.0, 1.1.0 with a migration, 1.2.0-bad that
never turns ready) on the local Debian base image, with the lab's container entry point
(lab/medops_lab/container_entrypoint.py). The lab's own
process for the clinic is stopped: only containers serve it. Everything is removed afterwards.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from deploy_container_support import CODE, ContainerClinic, build_clinic_images
from harness.podman import podman_api, remove_images, unique_repository  # noqa: F401  pylint: disable=unused-import
from medops_lab.front import NginxFront, nginx_binary
from medops_lab.servers import free_port
from medops_lab.testing import LabHandle


@pytest.fixture(scope="module")
def container_clinic(podman_api):  # pylint: disable=redefined-outer-name
    lab = LabHandle.create(prefix="medops-clab-")
    work = Path(tempfile.mkdtemp(prefix="medops-cdeploy-"))
    repository = unique_repository("medops-clinic")
    front = nginx = None
    try:
        lab.up(clinics=1)
        lab.run("stop-service", CODE)
        ids = build_clinic_images(lab, repository, work / "images")
        ports = [free_port(), free_port()]
        while ports[1] == ports[0]:
            ports[1] = free_port()
        front = NginxFront(work / "front", free_port(), CODE, nginx_binary())
        front.write(first_port=ports[0])
        nginx = front.process(work / "run").start()
        clinic = ContainerClinic(lab, front, work, repository, ids, ports, podman_api)
        clinic.app_root.mkdir()
        clinic.write_inventory()
        yield clinic
    finally:
        remove_images(repository)  # with --force, this also removes every container made from them
        if nginx:
            nginx.stop()
        lab.run("down", "--purge", check=False)
        shutil.rmtree(work, ignore_errors=True)
