# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lines of an env file (``KEY=value``, ``export KEY="value" # comment``), as dotenv and
systemd's EnvironmentFile write them. One parser for every module that reads or edits such a
file: the feature flags' env-file store rewrites single lines with it, env_check reads values."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

LINE_RE = re.compile(r"^(?P<lead>[ \t]*(?:export[ \t]+)?)(?P<key>[A-Za-z_][A-Za-z0-9_.]*)(?P<eq>[ \t]*=[ \t]*)(?P<rest>.*)$")


def split_eol(line):
    for eol in ("\r\n", "\n", "\r"):
        if line.endswith(eol):
            return line[:-len(eol)], eol
    return line, ""


def split_value(rest):
    """(quote, value, tail) of what follows ``=``: tail keeps the spacing and ``# comment``."""
    if rest[:1] in ("'", '"'):
        quote = rest[0]
        index = 1
        while index < len(rest):
            if rest[index] == "\\" and quote == '"':
                index += 2
                continue
            if rest[index] == quote:
                return quote, rest[1:index], rest[index + 1:]
            index += 1
        return quote, rest[1:], ""  # unterminated: the whole rest is the value; we close it on write
    match = re.search(r"[ \t]+#|[ \t]+$", rest)
    cut = match.start() if match else len(rest)
    return "", rest[:cut], rest[cut:]


class EnvLine(object):
    """One physical line; ``key`` is None for comments, blank lines and anything else."""

    def __init__(self, text):
        self.body, self.eol = split_eol(text)
        match = LINE_RE.match(self.body)
        self.key = match.group("key") if match else None
        if match:
            self.lead, self.eq = match.group("lead"), match.group("eq")
            self.quote, self.value, self.tail = split_value(match.group("rest"))

    def with_value(self, value):
        self.body = "%s%s%s%s%s%s%s" % (self.lead, self.key, self.eq, self.quote, value, self.quote, self.tail)
        self.value = value

    def text(self):
        return self.body + self.eol


def read_values(path):
    """{key: value} of an env file; a key set twice keeps its last value, as a shell would.
    Raises IOError/OSError as open() does; bytes that are not UTF-8 are kept as escapes."""
    with open(path, "rb") as handle:
        text = handle.read().decode("utf-8", "surrogateescape")
    return dict((line.key, line.value) for line in (EnvLine(t) for t in text.splitlines(True)) if line.key)
