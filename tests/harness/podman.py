"""Podman's Docker-compatible API for the container tests: a ``podman system service`` of the
test's own on a socket in a temporary directory, images built locally (no registry is reachable),
and cleanup of exactly the containers and images a test made.

Podman needs root here (rootful storage, runc; see scripts/install-deps.sh); the base image is
the local Debian image of scripts/build-target-image.sh.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from harness.ansible import REPO

BASE_IMAGE = "localhost/medops-target:bookworm"
LABEL_CLINIC = "medops.runbook.clinic"


class PodmanUnavailable(RuntimeError):
    pass


def podman(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return proc


def require_podman() -> None:
    """Podman as root, and the local base image (built once by scripts/build-target-image.sh)."""
    if shutil.which("podman") is None:
        raise PodmanUnavailable("podman is not installed: run scripts/install-deps.sh as root")
    if os.geteuid() != 0:
        raise PodmanUnavailable("the container tests need root (rootful podman with runc)")
    build = subprocess.run(["bash", str(REPO / "scripts" / "build-target-image.sh"), BASE_IMAGE],
                           capture_output=True, text=True, timeout=900, check=False)
    if build.returncode != 0:
        raise AssertionError(f"building {BASE_IMAGE} failed: {build.stderr.strip()[-2000:]}")


class PodmanService:
    """``podman system service --time=0 unix://<dir>/podman.sock``, stopped by its own pid."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="medops-podman-"))
        self.socket = self.dir / "podman.sock"
        self.url = f"unix://{self.socket}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "PodmanService":
        log = open(self.dir / "service.log", "wb")  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(["podman", "system", "service", "--time=0", self.url],
                                     stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.proc.poll() is not None:
                raise AssertionError(f"podman system service exited: {(self.dir / 'service.log').read_text()[-2000:]}")
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"podman system service did not answer on {self.socket} within {timeout}s")
            time.sleep(0.1)
        return self

    def answers(self) -> bool:
        if not self.socket.exists():
            return False
        import docker

        try:
            client = docker.DockerClient(base_url=self.url, timeout=5)
            try:
                return bool(client.ping())
            finally:
                client.close()
        except docker.errors.DockerException:
            return False

    def client(self):
        import docker

        return docker.DockerClient(base_url=self.url, timeout=120)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def unique_repository(prefix: str) -> str:
    return f"localhost/{prefix}-{uuid.uuid4().hex[:8]}"


def build_image(context: Path, tag: str) -> str:
    """``podman build`` of ``context`` (its Containerfile) as ``tag``; returns the image id.

    A label unique to this build gives the image an id of its own: without it, the layer cache
    hands two runs building the same files the same image, and one run's cleanup removes the
    other's."""
    proc = podman("build", "--quiet", "--tag", tag, "--label", f"medops.test.build={uuid.uuid4().hex}",
                  "--file", str(context / "Containerfile"), str(context), timeout=600)
    return "sha256:" + proc.stdout.strip().splitlines()[-1]


def remove_containers(clinic: str) -> None:
    """Every container labelled with ``clinic`` (what the module made for the test), running or not."""
    ids = podman("ps", "--all", "--quiet", "--filter", f"label={LABEL_CLINIC}={clinic}", check=False).stdout.split()
    if ids:
        podman("rm", "--force", "--time", "5", *ids, check=False)


def remove_images(repository: str) -> None:
    """Every tag of ``repository`` (with --force, containers made from them go too). By name, not
    by id, so an image some other tag also names is only untagged."""
    names = podman("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={repository}",
                   check=False).stdout.split()
    names = sorted(set(n for n in names if n.startswith(repository + ":")))
    if names:
        podman("rmi", "--force", *names, check=False)


def clinic_containers(client, clinic: str) -> dict:
    """{version: status} of the clinic's containers, read through the Docker API."""
    found = client.containers.list(all=True, filters={"label": [f"{LABEL_CLINIC}={clinic}"]})
    return {c.labels.get("medops.runbook.version"): c.status for c in found}


@pytest.fixture(scope="session")
def podman_api():
    """A ``podman system service`` of the session's own; ``.url`` is its unix:// address.
    Conftest files that need it import it (one service per test directory that uses it)."""
    require_podman()
    service = PodmanService().start()
    yield service
    service.stop()
