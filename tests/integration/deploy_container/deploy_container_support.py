"""The clinic of the container deploy tests: the clinic images built from the lab's release
artifacts, the inventory (the front is the lab's nginx front, medops_lab.front), and what the
tests read back."""

from __future__ import annotations

import json
import os
import shutil
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import yaml

from harness.podman import BASE_IMAGE, build_image
from medops_lab import artifacts
from medops_lab.containers import ENTRYPOINT

VERSIONS = ("1.0.0", "1.1.0", "1.2.0-bad")
CODE = "kin"  # the lab's clinic (database, queue, shared configuration)
CONFIG_IN_CONTAINER = "/srv/shared/service.conf"


def get_json(url: str):
    """(status, body) of a JSON answer; (None, {}) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except (urllib.error.URLError, OSError, ValueError):
        return None, {}


def build_clinic_images(lab, repository: str, work: Path) -> dict:
    ids = {}
    for version in VERSIONS:
        context = work / version
        context.mkdir(parents=True)
        artifacts.unpack(Path(lab.info["artifacts_dir"]) / artifacts.tarball_name(version), context / "release")
        shutil.copy(ENTRYPOINT, context / "clinic_entrypoint.py")
        (context / "Containerfile").write_text(
            f"FROM {BASE_IMAGE}\nCOPY release /srv/release\nCOPY clinic_entrypoint.py /srv/clinic_entrypoint.py\n"
            'WORKDIR /srv/release\nENTRYPOINT ["python3", "/srv/clinic_entrypoint.py"]\nCMD ["serve"]\n')
        ids[version] = build_image(context, f"{repository}:{version}")
    return ids


class ContainerClinic:
    """What the tests look at: the front, the app root, the inventory, the containers."""

    def __init__(self, lab, front, work, repository, ids, ports, api):
        self.lab = lab
        self.front = front
        self.work = work
        self.repository = repository
        self.ids = ids
        self.ports = ports
        self.api = api
        self.client = api.client()
        self.app_root = work / "app"
        # The clinic code the deploy sees, which names the containers: unique, so two runs on one
        # machine (one podman storage) never touch each other's containers.
        self.code = CODE + uuid.uuid4().hex[:6]
        self.inventory = work / "inventory.yml"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.front.port}{path}"

    def served(self):
        return get_json(self.url("/api/version"))[1].get("version")

    def live(self) -> str:
        current = self.app_root / "current"
        return os.path.basename(os.readlink(current)) if current.is_symlink() else ""

    def containers(self) -> dict:
        found = self.client.containers.list(all=True, filters={"label": [f"medops.runbook.clinic={self.code}"]})
        return {c.labels["medops.runbook.version"]: (c.status, int(c.labels["medops.runbook.port"]), c.id) for c in found}

    def statuses(self) -> dict:
        return {version: state[0] for version, state in self.containers().items()}

    def write_inventory(self) -> None:
        # This inventory has no group_vars: the secrets the lab's vault holds are written in (0600 file).
        hostvars = {**self.lab.inventory_list()["_meta"]["hostvars"][CODE], **self.lab.clinic_secrets(CODE)}
        shared = str(Path(self.lab.clinic(CODE)["app_root"]) / "shared")
        base = self.url("")
        volume = f"{shared}:{os.path.dirname(CONFIG_IN_CONTAINER)}"
        hostvars.update({
            # The container strategy works on this test's own app root, front and podman API (all
            # root's), not on the lab host's: it runs on the controller, as the module tests do.
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "clinic_code": self.code,
            "clinic_base_url": base,
            "clinic_health_urls": {"live": base + "/health/live", "ready": base + "/health/ready",
                                   "health": base + "/health", "db": base + "/health/db"},
            "clinic_app_root": str(self.app_root),
            "clinic_front_upstream_file": str(self.front.upstream_file),
            "clinic_front_check_command": self.front.check_command(),
            "clinic_front_reload_command": self.front.reload_command(),
            "clinic_container_image": self.repository,
            "clinic_container_ports": self.ports,
            # The release's migrations run in a one-off container of the new image, against the lab database.
            "clinic_migrate_command": ["podman", "run", "--rm", "--network", "host", "--volume", volume,
                                       "--env", f"CLINIC_SERVICE_CONFIG={CONFIG_IN_CONTAINER}",
                                       self.repository + ":{{ deploy_version }}", "migrate"],
            "deploy_strategy": "container",
            "deploy_container_docker_host": self.api.url,
            "deploy_container_pull": "never",
            "deploy_container_env": {"CLINIC_SERVICE_CONFIG": CONFIG_IN_CONTAINER},
            "deploy_container_volumes": [volume],
            "deploy_container_stop_timeout": 15,
            "deploy_container_keep": 2,
            "deploy_health_wait_timeout": 30,
        })
        document = {"all": {"children": {"clinics": {"children": {f"clinic_{CODE}": {"hosts": {CODE: hostvars}}}}}}}
        self.inventory.write_text(yaml.safe_dump(document, sort_keys=True))
        os.chmod(self.inventory, 0o600)
