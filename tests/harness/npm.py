"""npm packages the integration tests need (Unleash, the Node.js BullMQ), installed once per directory.

A clean clone installs them on first use from the npm registry; later runs reuse the directory.
"""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest


def ensure_npm_packages(target: Path, packages: list[str], marker: str) -> float:
    """``npm install packages`` into ``target`` unless ``node_modules/<marker>`` is there already.

    Returns the seconds the install took (0.0 when it was already there)."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.fail(f"node and npm are needed for {', '.join(packages)} (Debian: apt-get install nodejs npm)")
    target.mkdir(parents=True, exist_ok=True)
    installed = target / "node_modules" / marker / "package.json"
    # a lock: two pytest processes must not run npm in the same directory at once
    with open(target / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if installed.exists():
            return 0.0
        package = target / "package.json"
        if not package.exists():
            package.write_text(json.dumps({"name": f"medops-test-{target.name.strip('.')}", "private": True}) + "\n")
        started = time.monotonic()
        proc = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", *packages],
                              cwd=target, capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode != 0 or not installed.exists():
            pytest.fail(f"npm install {' '.join(packages)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return round(time.monotonic() - started, 1)
