"""Feature flags from an env file (``FEATURE_FLAG_X=true``), re-read whenever the file changes."""

from __future__ import annotations

import os
import threading
from pathlib import Path

PREFIX = "FEATURE_FLAG_"
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


def parse(text: str) -> dict:
    flags = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        key = key.strip()
        if key.startswith("export "):
            key = key[len("export "):].strip()
        if not key.startswith(PREFIX):
            continue
        value = value.strip().strip("'\"").strip()
        lowered = value.lower()
        flags[key] = True if lowered in TRUE else False if lowered in FALSE else value
    return flags


class FlagFile:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._stamp = None
        self._flags: dict = {}
        self._lock = threading.Lock()

    def current(self) -> dict:
        try:
            st = os.stat(self.path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._flags = parse(self.path.read_text(encoding="utf-8")) if stamp else {}
                self._stamp = stamp
            return dict(self._flags)
