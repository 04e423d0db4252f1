"""The clinic of the container deploy tests: an nginx front of the test's own, the clinic images
built from the lab's release artifacts, the inventory, and what the tests read back."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from harness.podman import BASE_IMAGE, build_image
from medops_lab import artifacts
from medops_lab.servers import free_port, wait_for_port

HERE = Path(__file__).resolve().parent
VERSIONS = ("1.0.0", "1.1.0", "1.2.0-bad")
CODE = "kin"
CONFIG_IN_CONTAINER = "/srv/shared/service.conf"


class NginxFront:
    """nginx on a free loopback port, everything under one directory, in the foreground so the
    test owns its pid. Its upstream block includes ``upstream_file``, which the deploy rewrites."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.port = free_port()
        self.upstream_file = directory / "upstream.conf"
        self.conf = directory / "nginx.conf"
        self.proc: subprocess.Popen | None = None
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self.argv = [nginx, "-p", f"{directory}/", "-e", str(directory / "error.log"), "-c", str(self.conf)]

    def start(self, first_port: int) -> "NginxFront":
        temp = "\n".join(f"    {name}_temp_path {self.dir / name};" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        self.upstream_file.write_text(f"server 127.0.0.1:{first_port};\n")
        self.conf.write_text(f"""\
daemon off;
worker_processes 1;
pid {self.dir / 'nginx.pid'};
events {{ worker_connections 256; }}
http {{
{temp}
    access_log {self.dir / 'access.log'};
    upstream clinic {{ include {self.upstream_file}; }}
    server {{
        listen 127.0.0.1:{self.port};
        location / {{ proxy_pass http://clinic; }}
    }}
}}
""")
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, process=self.proc)
        return self

    def live_port(self) -> int:
        return int(self.upstream_file.read_text().split("server 127.0.0.1:")[1].split(";")[0])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: workers finish, then the master exits
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)


def get_json(url: str):
    """(status, body) of a JSON answer; (None, {}) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, {}
    except (urllib.error.URLError, OSError, ValueError):
        return None, {}


def build_clinic_images(lab: LabHandle, repository: str, work: Path) -> dict:
    ids = {}
    for version in VERSIONS:
        context = work / version
        context.mkdir(parents=True)
        artifacts.unpack(Path(lab.info["artifacts_dir"]) / artifacts.tarball_name(version), context / "release")
        shutil.copy(HERE / "clinic_entrypoint.py", context / "clinic_entrypoint.py")
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
        self.inventory = work / "inventory.yml"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.front.port}{path}"

    def served(self):
        return get_json(self.url("/api/version"))[1].get("version")

    def live(self) -> str:
        current = self.app_root / "current"
        return os.path.basename(os.readlink(current)) if current.is_symlink() else ""

    def containers(self) -> dict:
        found = self.client.containers.list(all=True, filters={"label": [f"medops.runbook.clinic={CODE}"]})
        return {c.labels["medops.runbook.version"]: (c.status, int(c.labels["medops.runbook.port"]), c.id) for c in found}

    def statuses(self) -> dict:
        return {version: state[0] for version, state in self.containers().items()}

    def write_inventory(self) -> None:
        hostvars = dict(self.lab.inventory_list()["_meta"]["hostvars"][CODE])
        shared = str(Path(self.lab.clinic(CODE)["app_root"]) / "shared")
        base = self.url("")
        volume = f"{shared}:{os.path.dirname(CONFIG_IN_CONTAINER)}"
        hostvars.update({
            "clinic_base_url": base,
            "clinic_health_urls": {"live": base + "/health/live", "ready": base + "/health/ready",
                                   "health": base + "/health", "db": base + "/health/db"},
            "clinic_app_root": str(self.app_root),
            "clinic_front_upstream_file": str(self.front.upstream_file),
            "clinic_front_check_command": self.front.argv + ["-t", "-q"],
            "clinic_front_reload_command": self.front.argv + ["-s", "reload"],
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
