"""Feature flags from an env file (``FEATURE_FLAG_X=true``), re-read whenever the file changes.

A flag's rollout percentage is the integer in ``FEATURE_FLAG_X_ROLLOUT`` (as medops.runbook.feature_flag's
envfile store writes it); an enabled flag without one is on for everybody.
"""

from __future__ import annotations

import os
import random
import threading
import zlib
from pathlib import Path

PREFIX = "FEATURE_FLAG_"
ROLLOUT_SUFFIX = "_ROLLOUT"
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
        if key.endswith(ROLLOUT_SUFFIX) and value.isdigit():  # a percentage, not a boolean ("0", "1")
            flags[key] = int(value)
            continue
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

    def flag(self, name: str) -> dict:
        """``{"enabled": bool, "rollout": int | None}`` of flag ``name`` (e.g. ``new_ui``) as this service reads it."""
        return state(self.current(), name)

    def states(self) -> dict:
        """Every flag of the file by its lower-case name, each as flag() gives it."""
        flags = self.current()
        names = [key[len(PREFIX):].lower() for key in flags if not (key.endswith(ROLLOUT_SUFFIX) and key[:-len(ROLLOUT_SUFFIX)] in flags)]
        return {name: state(flags, name) for name in names}


def state(flags: dict, name: str) -> dict:
    key = PREFIX + name.upper()
    rollout = flags.get(key + ROLLOUT_SUFFIX)
    return {"enabled": flags.get(key) is True, "rollout": rollout if isinstance(rollout, int) else None}


def in_rollout(state: dict, name: str, user: str | None) -> bool:
    """Whether ``user`` gets the code behind the flag: a sticky bucket 1-100 per flag and user (like
    Unleash's flexibleRollout with groupId = flag name), inside when it is at most the rollout.
    Requests without a user id get a random bucket."""
    if not state["enabled"]:
        return False
    rollout = 100 if state["rollout"] is None else state["rollout"]
    bucket = zlib.crc32(f"{name}:{user}".encode()) % 100 + 1 if user else random.randint(1, 100)  # noqa: S311
    return bucket <= rollout
