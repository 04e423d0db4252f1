"""Session fixture: a real Unleash server (npm ``unleash-server@8``) on the session's PostgreSQL.

The npm install lands in ``.unleash/`` beside this file (git-ignored) or in ``$MEDOPS_UNLEASH_DIR``
and is reused by later runs; a clean clone installs it on first use (about 40 s here).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.npm import ensure_npm_packages
from medops_lab.servers import LOOPBACK, ManagedProcess, free_port

HERE = Path(__file__).resolve().parent
UNLEASH_PACKAGE = "unleash-server@8"
TIMINGS: dict = {}


def unleash_dir() -> Path:
    return Path(os.environ.get("MEDOPS_UNLEASH_DIR") or HERE / ".unleash")


def ensure_unleash_installed(target: Path) -> Path:
    """npm install unleash-server into ``target`` unless a previous run did; returns ``target``."""
    TIMINGS["npm_install_s"] = ensure_npm_packages(target, [UNLEASH_PACKAGE], "unleash-server")
    return target


@dataclass
class UnleashServer:
    url: str
    token: str
    process: ManagedProcess

    def api(self, method: str, path: str, body=None, token: str | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers={
            "Authorization": token or self.token, "Content-Type": "application/json", "Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=15) as response:
            text = response.read()
        return json.loads(text) if text else {}

    def event_count(self) -> int:
        """Events in Unleash's audit log: every API write adds at least one."""
        return int(self.api("GET", "/api/admin/events")["totalEvents"])

    def feature(self, name: str, project: str = "default"):
        try:
            return self.api("GET", f"/api/admin/projects/{project}/features/{name}")
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise


def wait_for_admin_api(server: UnleashServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if server.process.pid() is None:
            raise RuntimeError(f"Unleash exited while starting:\n{server.process.log_tail(40)}")
        try:
            server.api("GET", "/api/admin/projects")
            return
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = exc
        time.sleep(0.5)
    raise RuntimeError(f"Unleash admin API did not answer within {timeout:.0f}s ({last}):\n{server.process.log_tail(40)}")


@pytest.fixture(scope="session")
def unleash_server(pg_server):
    """A real Unleash 8 on a free loopback port with an admin token (``.url``, ``.token``, ``.api()``)."""
    install = ensure_unleash_installed(unleash_dir())
    database = "unleash_feature_flag_tests"
    pg_server.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    pg_server.create_database(database)
    token = "*:*." + secrets.token_hex(24)
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="medops-unleash-"))
    env = dict(os.environ, UNLEASH_TEST_DB_PORT=str(pg_server.port), UNLEASH_TEST_DB_USER=pg_server.superuser,
               UNLEASH_TEST_DB_PASSWORD=pg_server.password, UNLEASH_TEST_DB_NAME=database,
               UNLEASH_TEST_PORT=str(port), UNLEASH_TEST_ADMIN_TOKEN=token,
               CHECK_VERSION="false", SEND_TELEMETRY="false", NODE_ENV="production")
    process = ManagedProcess("unleash", workdir, ["node", str(HERE / "unleash_server.js")], env=env, port=port, cwd=install)
    started = time.monotonic()
    process.start(timeout=180)
    server = UnleashServer(f"http://{LOOPBACK}:{port}", token, process)
    try:
        wait_for_admin_api(server, 180)
        TIMINGS["unleash_start_s"] = round(time.monotonic() - started, 1)
        print(f"\nUnleash timings: {TIMINGS}")
        yield server
    finally:
        process.stop()
        shutil.rmtree(workdir, ignore_errors=True)
