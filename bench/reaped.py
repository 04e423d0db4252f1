"""Run a command, then end and reap what it left running, so that its whole process tree's CPU
reaches the caller's RUSAGE_CHILDREN.

    python bench/reaped.py COMMAND [ARG...]

This process becomes a child subreaper (Linux): processes the command leaves behind, such as ssh's
ControlPersist masters or Mitogen's helpers, are handed to it instead of to init. Once the command
exits, each one left is sent SIGTERM and waited for (SIGKILL after a few seconds). Exits with the
command's status.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time

PR_SET_CHILD_SUBREAPER = 36


def children() -> list[int]:
    """The processes whose parent is this one (by /proc/<pid>/stat)."""
    mine, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == mine:
                found.append(int(entry))
    return found


def reap(signum: int, grace: float) -> list[int]:
    """Send ``signum`` to every child left and wait up to ``grace`` seconds for them: those still alive."""
    left = children()
    for pid in left:
        os.kill(pid, signum)
    deadline = time.monotonic() + grace
    while left and time.monotonic() < deadline:
        for pid in list(left):
            if os.waitpid(pid, os.WNOHANG)[0]:
                left.remove(pid)
        time.sleep(0.05)
    return left


def main(argv: list[str]) -> int:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    status = subprocess.run(argv, check=False).returncode
    if reap(signal.SIGTERM, 5.0):
        reap(signal.SIGKILL, 5.0)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
