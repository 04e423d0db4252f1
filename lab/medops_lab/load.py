"""Steady /api/ traffic on one clinic, as its users would send it: what an observation window after
a deploy watches.

One thread sends ``rps`` requests per second (a fixed cadence, no bursts) with the clinic's bearer
token, in turn to each of ``paths``, and counts the answers by status. Loopback URLs only: the lab
never sends load anywhere else. Usable as a context manager from tests::

    with Load(lab.url("kin"), token, rps=4) as load:
        ...
    load.stats  # {"sent": ..., "by_status": {"200": ..., "500": ...}, "no_answer": ...}

and from the command line: ``python -m medops_lab load CLINIC --rps N --seconds S``.
"""

from __future__ import annotations

import ipaddress
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

DEFAULT_PATHS = ("/api/patients", "/api/appointments")
LOOPBACK_NAMES = ("localhost",)


def require_loopback(base_url: str) -> str:
    host = urlsplit(base_url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host in LOOPBACK_NAMES
    if not loopback:
        raise ValueError(f"the lab sends load to loopback addresses only, not {host or base_url!r}")
    return base_url.rstrip("/")


class Load:
    def __init__(self, base_url: str, token: str, rps: float = 4.0, paths=DEFAULT_PATHS, timeout: float = 2.0):
        if rps <= 0 or rps > 50:
            raise ValueError(f"rps must be above 0 and at most 50 (got {rps})")
        self.base_url = require_loopback(base_url)
        self.token = token
        self.rps = rps
        self.paths = tuple(paths)
        self.timeout = timeout
        self.stats: dict = {"sent": 0, "by_status": {}, "no_answer": 0}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _send(self, path: str) -> None:
        request = urllib.request.Request(self.base_url + path, headers={"Authorization": f"Bearer {self.token}"})
        status = None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (loopback only)
                response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except (OSError, ValueError):
            status = None  # a restart in progress: counted, not raised
        with self._lock:
            self.stats["sent"] += 1
            if status is None:
                self.stats["no_answer"] += 1
            else:
                key = str(status)
                self.stats["by_status"][key] = self.stats["by_status"].get(key, 0) + 1

    def _run(self) -> None:
        period = 1.0 / self.rps
        started = time.monotonic()
        sent = 0
        while not self._stop.is_set():
            self._send(self.paths[sent % len(self.paths)])
            sent += 1
            # A fixed cadence from the start: a slow answer is caught up on, never doubled up on.
            self._stop.wait(max(0.0, started + sent * period - time.monotonic()))

    def start(self) -> "Load":
        self._thread = threading.Thread(target=self._run, name="medops-lab-load", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.timeout + 1)
        return self.snapshot()

    def snapshot(self) -> dict:
        with self._lock:
            return {"sent": self.stats["sent"], "by_status": dict(self.stats["by_status"]), "no_answer": self.stats["no_answer"]}

    def __enter__(self) -> "Load":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
