"""The lab clinic service: a small web service with health endpoints, migrations and a BullMQ worker.

Its source is packed into versioned release tarballs (``python -m medops_lab artifacts``); a release
directory holds this package, a VERSION file, release.json and the release's migrations.
"""

from __future__ import annotations

import json
from pathlib import Path

RELEASE_DIR = Path(__file__).resolve().parent.parent


def _read_release() -> dict:
    try:
        meta = json.loads((RELEASE_DIR / "release.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    try:
        meta["version"] = (RELEASE_DIR / "VERSION").read_text(encoding="utf-8").strip()
    except OSError:
        meta.setdefault("version", "0.0.0-dev")
    meta.setdefault("faults", [])
    return meta


RELEASE = _read_release()
VERSION = RELEASE["version"]
