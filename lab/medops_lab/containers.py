"""The container clinic's host side: podman's Docker-compatible API of the lab's own, the clinic
images, and the one-off migration container lab-ctl runs as root.

Production's container clinic (inventories/production, clinic_lub.yml) runs each version as a
container started through the host's Docker API, behind nginx. The lab does the same with a podman
of its own: its own storage (vfs, under the lab's directory, so two labs or a test never see each
other's containers and `down` removes them all), its own containers.conf (runc, cgroupfs, file
events, the ulimits these machines allow), and its socket open to the clinic's account only, as a
production host gives its deploy account the Docker socket.

No registry is reachable, so the images are built here, one per release artifact, and kept small:
an image holds the release and the entry point only, and its containers mount the host's /usr and
the hosts' Python read-only (mounts in the inventory's deploy_container_volumes). A real image
carries its own Python; everything the deploy does with containers is the same.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from . import artifacts
from .servers import ManagedProcess

IMAGE = "localhost/medops-lab/clinic-service"
SHARED_IN_CONTAINER = "/srv/clinic-service/shared"
CONFIG_IN_CONTAINER = f"{SHARED_IN_CONTAINER}/service.conf"
ENTRYPOINT = Path(__file__).with_name("container_entrypoint.py")
LABEL_PYTHON = "medops.lab.python"
CONTAINERS_CONF = """\
# Written by medops_lab: this lab's podman (runc: crun fails on cgroups v1 here; no systemd to manage cgroups).
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
"""
# Debian's /bin, /lib... are links into /usr: with /usr mounted, the image's links make them whole.
MERGED_USR_LINKS = ("bin", "lib", "lib64", "sbin")


class PodmanError(RuntimeError):
    """The lab's podman cannot do what was asked; the message says why."""


def require_podman() -> None:
    if shutil.which("podman") is None or shutil.which("runc") is None:
        raise PodmanError("the lab's container clinic needs podman and runc (bash scripts/install-deps.sh demo installs them)")


class Podman:
    """The lab's podman: ``info`` is lab.json's ``podman`` record (storage, socket, configuration)."""

    def __init__(self, info: dict, run_dir: Path):
        self.info = info
        self.run_dir = Path(run_dir)
        self.socket = Path(info["socket"])
        self.url = f"unix://{self.socket}"

    @staticmethod
    def plan(home: Path) -> dict:
        base = home / "podman"
        return {"dir": str(base), "root": str(base / "storage"), "runroot": str(base / "run"),
                "conf": str(base / "containers.conf"), "socket": str(base / "api" / "podman.sock"), "image": IMAGE}

    def argv(self, *args: str) -> list[str]:
        return ["podman", "--root", self.info["root"], "--runroot", self.info["runroot"], "--storage-driver", "vfs", *args]

    def env(self) -> dict:
        return {**os.environ, "CONTAINERS_CONF": self.info["conf"]}

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(*args), env=self.env(), capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise PodmanError(f"podman {args[0]} failed ({proc.returncode}): {proc.stderr.strip()[-1500:]}")
        return proc

    def prepare(self, account_gid: int) -> None:
        """The storage is root's; the socket's directory lets the container clinic's account in."""
        base = Path(self.info["dir"])
        for path in (base, Path(self.info["root"]), Path(self.info["runroot"])):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(base, 0o755)
        api = self.socket.parent
        api.mkdir(exist_ok=True)
        os.chown(api, 0, account_gid)
        os.chmod(api, 0o750)
        Path(self.info["conf"]).write_text(CONTAINERS_CONF, encoding="utf-8")

    # -- the API service ----------------------------------------------------------------------------
    def service(self) -> ManagedProcess:
        return ManagedProcess("podman", self.run_dir, self.argv("system", "service", "--time=0", self.url), env=self.env())

    def start_service(self, account_gid: int, timeout: float = 60) -> None:
        proc = self.service().start()
        deadline = time.monotonic() + timeout
        while not self.answers():
            if proc.pid() is None or time.monotonic() > deadline:
                proc.stop()
                raise PodmanError(f"podman system service did not answer on {self.socket}: {proc.log_tail()}")
            time.sleep(0.1)
        # The deploy account reaches the API as production's reaches the Docker socket: by its group.
        os.chown(self.socket, 0, account_gid)
        os.chmod(self.socket, 0o660)

    def answers(self) -> bool:
        """GET /_ping on the socket answers OK."""
        if not self.socket.exists():
            return False
        conn = _UnixHTTPConnection(str(self.socket))
        try:
            conn.request("GET", "/_ping")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    # -- images -------------------------------------------------------------------------------------
    def image_python(self, version: str) -> str | None:
        """The Python a built image's entry point runs, or None when there is no such image."""
        proc = self.run("image", "inspect", "--format", f'{{{{ index .Config.Labels "{LABEL_PYTHON}" }}}}',
                        f"{IMAGE}:{version}", check=False)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def build(self, tarball: Path, version: str, python: str) -> bool:
        """``IMAGE:<version>`` from the release tarball, unless it is there for this Python already."""
        if self.image_python(version) == python:
            return False
        with tempfile.TemporaryDirectory(prefix="medops-lab-image-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            for sub in ("usr", "etc", "tmp", "srv"):
                (rootfs / sub).mkdir(parents=True)
            os.chmod(rootfs / "tmp", 0o1777)
            for link in MERGED_USR_LINKS:
                (rootfs / link).symlink_to(f"usr/{link}")
            artifacts.unpack(tarball, rootfs / "srv" / "release")
            shutil.copy(ENTRYPOINT, rootfs / "srv" / "clinic_entrypoint.py")
            containerfile = Path(tmp) / "Containerfile"
            containerfile.write_text(
                f"FROM scratch\nCOPY . /\nWORKDIR /srv/release\nLABEL {LABEL_PYTHON}={json.dumps(python)}\n"
                f"ENTRYPOINT {json.dumps([python, '/srv/clinic_entrypoint.py'])}\nCMD [\"serve\"]\n", encoding="utf-8")
            self.run("build", "--quiet", "--file", str(containerfile), "--tag", f"{IMAGE}:{version}", str(rootfs))
        return True

    # -- containers ---------------------------------------------------------------------------------
    def containers(self, clinic: str) -> list[dict]:
        """The clinic's containers (every state): name, version, port, state, pid."""
        proc = self.run("ps", "--all", "--format", "json", "--filter", f"label=medops.runbook.clinic={clinic}", check=False)
        if proc.returncode != 0 or not proc.stdout.strip():
            return []
        rows = []
        for row in json.loads(proc.stdout):
            labels = row.get("Labels") or {}
            rows.append({"name": (row.get("Names") or [""])[0], "version": labels.get("medops.runbook.version"),
                         "port": int(labels.get("medops.runbook.port") or 0), "state": row.get("State"),
                         "pid": row.get("Pid") or None})
        return rows

    def stop(self, names: list[str], timeout: int = 30) -> None:
        if names:
            self.run("stop", "--time", str(timeout), *names)

    def start(self, names: list[str]) -> None:
        if names:
            self.run("start", *names)

    def remove_all(self) -> bool:
        """Every container of this lab's storage (it holds nothing else)."""
        had = bool(self.run("ps", "--all", "--quiet", check=False).stdout.split())
        if had:
            self.run("rm", "--all", "--force", "--time", "10", timeout=120)
        return had

    def leftover_pids(self) -> list[int]:
        """Processes still working on this lab's storage (conmon outlives `rm` by a moment)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                except OSError:
                    continue
                if self.info["runroot"] in cmdline and "system service" not in cmdline:
                    found.append(int(entry.name))
        return found

    def wait_gone(self, timeout: float = 15) -> list[int]:
        deadline = time.monotonic() + timeout
        while self.leftover_pids() and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.leftover_pids()

    def migrate_argv(self, version: str, volumes: list[str]) -> list[str]:
        """The release's migrations in a one-off container of its image, as production's
        ``sudo podman run --rm ... migrate``."""
        mounts = [arg for volume in volumes for arg in ("--volume", volume)]
        return self.argv("run", "--rm", "--network", "host", *mounts, "--env", f"CLINIC_SERVICE_CONFIG={CONFIG_IN_CONTAINER}",
                         f"{IMAGE}:{version}", "migrate")


def volumes(shared: str, python: str) -> list[str]:
    """What a clinic container mounts: the clinic's shared directory read-only (configuration and
    secrets) but for its logs, the host's /usr and the hosts' Python (the lab's images carry neither)."""
    venv = str(Path(python).parent.parent)
    return [f"{shared}:{SHARED_IN_CONTAINER}:ro", f"{shared}/logs:{SHARED_IN_CONTAINER}/logs",
            "/usr:/usr:ro", f"{venv}:{venv}:ro"]


class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=5)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self.path)
