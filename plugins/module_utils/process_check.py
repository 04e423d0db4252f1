# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is the service's process running, and does its port take connections? Read from /proc (Linux)
and with one TCP connection; nothing is signalled or changed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import socket


class ProcessCheckError(Exception):
    """A setting that cannot work; the message names it."""


def compile_pattern(pattern):
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ProcessCheckError("pattern %r does not compile: %s" % (pattern, exc))


def processes(proc_root="/proc"):
    """(pid, uid, command line) of every process whose details can be read."""
    found = []
    for name in os.listdir(proc_root):
        if not name.isdigit():
            continue
        base = os.path.join(proc_root, name)
        try:
            with open(os.path.join(base, "cmdline"), "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
            with open(os.path.join(base, "status")) as handle:
                uid = next(int(line.split()[1]) for line in handle if line.startswith("Uid:"))
        except (IOError, OSError, StopIteration, ValueError):
            continue  # gone meanwhile, or a kernel thread
        if cmdline:
            found.append((int(name), uid, cmdline))
    return found


def matching(found, pattern, uid=None, exclude=()):
    """The pids whose command line matches ``pattern`` (and run as ``uid`` when given)."""
    return sorted(pid for pid, owner, cmdline in found
                  if pid not in exclude and pattern.search(cmdline) and (uid is None or owner == uid))


def port_open(host, port, timeout):
    try:
        conn = socket.create_connection((host, port), timeout=timeout)
    except (socket.error, OSError):
        return False
    conn.close()
    return True


def problems(pids, pattern_text, port, open_):
    """Sentences for what is wrong (empty when the process runs and its port answers)."""
    found = []
    if not pids:
        found.append("no process matches %r" % pattern_text)
    if port and not open_:
        found.append("nothing accepts connections on port %d" % port)
    return found
