#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: log_scan
short_description: Count the error lines of a service's logs over a recent window, with masked excerpts
version_added: "0.1.0"
extends_documentation_fragment:
  - medops.runbook.attributes
  - medops.runbook.attributes.check_full
description:
  - Reads the end of each log file (or glob) on the host and counts the entries of the last
    O(since_minutes) minutes whose first line matches one of O(patterns) (by default C(ERROR),
    C(CRITICAL) or C(FATAL)).
  - An entry starts with a timestamp (C(2026-11-30 15:06:18,123) as Python's logging writes it, or
    ISO 8601 with an optional offset); lines without one belong to the entry before them. Local
    timestamps are read in the host's time zone.
  - The most recent matching lines are returned as excerpts, masked first (values of password, secret,
    token and authorization settings, bearer tokens, e-mail addresses, long token-like strings and
    numbers of six digits or more become C(***)) and cut to 160 characters. Nothing else of the logs
    is returned.
  - A file that does not exist is listed in RV(missing) (a service that has not logged yet); one that
    cannot be read fails the task.
  - Changes nothing; check mode runs the same scan.
author:
  - medops.runbook contributors (@medops-runbook)
options:
  paths:
    description: Log files, or glob patterns (rotated files such as C(service.log.1) included when they match).
    type: list
    elements: path
    required: true
  since_minutes:
    description: Length of the window, ending now.
    type: int
    default: 60
  patterns:
    description: Regular expressions (Python syntax) searched in each entry's first line.
    type: list
    elements: str
    default: ['\b(ERROR|CRITICAL|FATAL)\b']
  max_excerpts:
    description: How many of the most recent matching lines to return (masked). V(0) returns none.
    type: int
    default: 5
  max_bytes:
    description: Bytes read from the end of each file; older entries are outside any useful window anyway.
    type: int
    default: 8388608
"""

EXAMPLES = r"""
- name: Errors in the clinic service's log over the last hour
  medops.runbook.log_scan:
    paths:
      - /srv/clinic-service/shared/logs/service.log*
    since_minutes: 60
  register: clinic_log_errors

- name: Say how many
  ansible.builtin.debug:
    msg: "{{ clinic_log_errors.errors }} errors in the last hour: {{ clinic_log_errors.excerpts }}"
"""

RETURN = r"""
errors:
  description: Entries in the window whose first line matches a pattern.
  returned: always
  type: int
  sample: 3
entries:
  description: Entries in the window, matching or not.
  returned: always
  type: int
  sample: 1250
excerpts:
  description: The most recent matching lines, masked and cut to 160 characters, oldest first.
  returned: always
  type: list
  elements: str
  sample: ["2026-11-30 15:06:18,123 kin 1.1.0 ERROR clinic_service.http: login failed for ***"]
files:
  description: The files read, with their own C(errors) and C(entries) counts.
  returned: always
  type: list
  elements: dict
missing:
  description: Paths or patterns that matched no file.
  returned: always
  type: list
  elements: str
since:
  description: Start of the window, host local time, ISO 8601.
  returned: always
  type: str
"""

import datetime
import glob
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.medops.runbook.plugins.module_utils.log_scan import (
    DEFAULT_PATTERNS, LogScanError, compile_patterns, merge, scan)


def tail_lines(path, max_bytes):
    """The lines of the last ``max_bytes`` of ``path`` (a partial first line is dropped)."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - max_bytes))
        data = handle.read()
    lines = to_text(data, errors="surrogate_or_replace").splitlines()
    return lines[1:] if size > max_bytes else lines


def expand(paths):
    """(files, patterns that matched none): each file once, in the order given."""
    found, missing = [], []
    for pattern in paths:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [p for p in [pattern] if os.path.exists(p)]
        if not matches:
            missing.append(pattern)
        found.extend(m for m in matches if m not in found)
    return found, missing


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type="list", elements="path", required=True),
            since_minutes=dict(type="int", default=60),
            patterns=dict(type="list", elements="str", default=list(DEFAULT_PATTERNS)),
            max_excerpts=dict(type="int", default=5),
            max_bytes=dict(type="int", default=8 * 1024 * 1024),
        ),
        supports_check_mode=True,
    )
    params = module.params
    for name in ("since_minutes", "max_bytes"):
        if params[name] <= 0:
            module.fail_json(msg="%s must be greater than 0, got %d" % (name, params[name]))
    if params["max_excerpts"] < 0:
        module.fail_json(msg="max_excerpts must be 0 or more, got %d" % params["max_excerpts"])
    try:
        patterns = compile_patterns(params["patterns"])
    except LogScanError as exc:
        module.fail_json(msg=str(exc))
    since = datetime.datetime.now() - datetime.timedelta(minutes=params["since_minutes"])
    files, missing = expand(params["paths"])
    results = []
    for path in files:
        try:
            lines = tail_lines(path, params["max_bytes"])
        except (IOError, OSError) as exc:
            module.fail_json(msg="cannot read %s: %s" % (path, exc.strerror or exc), missing=missing)
        result = scan(lines, since, patterns, params["max_excerpts"])
        results.append(dict(path=path, errors=result["errors"], entries=result["entries"], excerpts=result["excerpts"]))
    total = merge(results)
    module.exit_json(changed=False, errors=total["errors"], entries=total["entries"],
                     excerpts=total["excerpts"][-params["max_excerpts"]:] if params["max_excerpts"] else [],
                     files=[dict(path=r["path"], errors=r["errors"], entries=r["entries"]) for r in results],
                     missing=missing, since=since.isoformat())


if __name__ == "__main__":
    main()
