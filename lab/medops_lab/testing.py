"""Test-side handle on a lab started in a temporary state directory (used by the ``lab`` fixture).

Lab commands run as subprocesses, exactly as `make lab-up` and the inventory's restart command
run them, so the processes they start belong to the lab and not to the pytest process.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import vault
from .load import Load
from .lab import LAB_DIR, http_json

REPO = LAB_DIR.parent


class LabCommandError(AssertionError):
    pass


class LabHandle:
    def __init__(self, state: Path):
        self.state = Path(state)
        self.inventory = REPO / "inventories" / "lab"
        self.env = {"MEDOPS_LAB_STATE": str(self.state)}

    @classmethod
    def create(cls, prefix: str = "medops-lab-") -> "LabHandle":
        state = Path(tempfile.mkdtemp(prefix=prefix))
        os.chmod(state, 0o755)  # PostgreSQL runs as the postgres account when tests run as root
        return cls(state)

    @classmethod
    @contextlib.contextmanager
    def running(cls, clinics: int = 3, layout: str = "release", prefix: str = "medops-lab-"):
        """A lab of its own for a test scope (a fixture's ``with``): up with ``clinics`` clinics,
        brought down and purged afterwards whatever happened."""
        handle = cls.create(prefix=prefix)
        try:
            handle.up(clinics, layout=layout)
            yield handle
        finally:
            handle.run("down", "--purge", check=False)

    # -- commands -----------------------------------------------------------------------------
    def run(self, *args: str, check: bool = True, timeout: float = 180) -> subprocess.CompletedProcess:
        env = {**os.environ, "PYTHONPATH": str(LAB_DIR), **self.env}
        proc = subprocess.run([sys.executable, "-m", "medops_lab", "--state", str(self.state), *args],
                              env=env, capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise LabCommandError(f"lab {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def json(self, *args: str):
        return json.loads(self.run(*args).stdout)

    def up(self, clinics: int = 3, layout: str = "release") -> dict:
        """Tests get one service per clinic unless they ask for another layout (the CLI's default,
        production, runs lub as containers: podman, images, a slower start)."""
        return self.json("up", "--clinics", str(clinics), "--layout", layout)

    def down(self) -> dict:
        return self.json("down")

    def pids(self) -> list[int]:
        return self.json("pids")

    # -- what the lab recorded ------------------------------------------------------------------
    @property
    def info(self) -> dict:
        return json.loads((self.state / "lab.json").read_text(encoding="utf-8"))

    @property
    def clinics(self) -> list[dict]:
        return self.info["clinics"]

    def clinic(self, code: str) -> dict:
        return next(c for c in self.clinics if c["code"] == code)

    def version(self, code: str) -> str:
        """The version ``current`` points at (other tests in the session may have deployed one)."""
        return (Path(self.clinic(code)["app_root"]) / "current" / "VERSION").read_text(encoding="utf-8").strip()

    def url(self, code: str, path: str = "") -> str:
        return self.clinic(code)["base_url"] + path

    def get(self, code: str, path: str) -> tuple[int | None, dict]:
        return http_json(self.url(code, path))

    def secret(self, path: str) -> str:
        return Path(path).read_text(encoding="utf-8").strip()

    def db_params(self, code: str) -> dict:
        clinic, pg = self.clinic(code), self.info["postgres"]
        return {"host": pg["host"], "port": pg["port"], "dbname": clinic["db_name"], "user": clinic["db_user"],
                "password": self.secret(clinic["db_password_file"])}

    def redis_connection(self) -> dict:
        rd = self.info["redis"]
        return {"host": rd["host"], "port": rd["port"], "password": self.secret(rd["password_file"])}

    def inventory_list(self) -> dict:
        proc = subprocess.run([str(self.inventory / "lab_inventory.py"), "--list"], env={**os.environ, **self.env},
                              capture_output=True, text=True, check=True)
        return json.loads(proc.stdout)

    def clinic_secrets(self, code: str) -> dict:
        """clinic_db_password, clinic_redis_password, clinic_api_token of a clinic, decrypted from the
        lab's vault (the inventory hands them to Ansible encrypted)."""
        return vault.clinic_secrets(self.state, code)

    def load(self, code: str, rps: float = 4.0) -> Load:
        """Steady /api/ traffic on a clinic with its bearer token (start it with ``with``)."""
        clinic = self.clinic(code)
        return Load(clinic["base_url"], self.secret(clinic["api_token_file"]), rps=rps)

    def wait_for(self, code: str, path: str, status: int, timeout: float = 30.0) -> dict:
        """Poll until ``path`` answers ``status``; returns the body (raises with the last answer)."""
        deadline = time.monotonic() + timeout
        while True:
            got, body = self.get(code, path)
            if got == status:
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"{code} {path}: wanted {status}, still {got} {body} after {timeout}s")
            time.sleep(0.1)


def headers(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return dict(exc.headers)
