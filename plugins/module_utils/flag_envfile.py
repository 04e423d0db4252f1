# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Feature flags kept as ``KEY=value`` lines of an env file (``.env.staging`` and the like).

Only the flag's line(s) and its rollout companion line are rewritten; every other byte of the
file (comments, blank lines, order, quoting, CRLF line endings, invalid UTF-8) is written back as
read. The edited line keeps its quote style, ``export`` prefix, spacing around ``=``, trailing
comment and boolean vocabulary (``true/false``, ``1/0``, ``yes/no``, ``on/off``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.medops.runbook.plugins.module_utils.env_file import EnvLine, split_eol
from ansible_collections.medops.runbook.plugins.module_utils.fileutils import atomic_write
from ansible_collections.medops.runbook.plugins.module_utils.flag_common import (
    FlagError, clears_rollout, flag_state, parse_bool, parse_rollout)

KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
WORD_PAIRS = (("true", "false"), ("1", "0"), ("yes", "no"), ("on", "off"), ("enabled", "disabled"))


def env_key(name, prefix):
    """``new_ui`` -> ``FEATURE_FLAG_NEW_UI``; a name that already carries the prefix is kept."""
    key = re.sub(r"[-. ]", "_", name.strip()).upper()
    if prefix and not key.startswith(prefix.upper()):
        key = prefix + key
    if not KEY_RE.match(key):
        raise FlagError("name %r with prefix %r gives %r, which is not a valid env variable name "
                        "(letters, digits and _ only, not starting with a digit)" % (name, prefix, key))
    return key


def bool_word(enabled, old_value):
    """The word for ``enabled`` in the vocabulary (and letter case) of the value it replaces."""
    old = (old_value or "").strip()
    for pair in WORD_PAIRS:
        if old.lower() in pair:
            word = pair[0] if enabled else pair[1]
            if old.isupper():
                return word.upper()
            if old[:1].isupper():
                return word.capitalize()
            return word
    return "true" if enabled else "false"


class EnvFileFlags(object):
    """Reads and rewrites one flag (``key``) and its rollout companion (``rollout_key``)."""

    def __init__(self, path, key, rollout_key, create=False, mode=0o600):
        self.path = path
        self.key = key
        self.rollout_key = rollout_key
        self.create = create
        self.mode = mode
        self.exists = False
        self.original = ""
        self.lines = []
        self.warnings = []
        self.new_text = None

    # -- reading -----------------------------------------------------------------------------
    def target(self):
        """The file to write: a symlinked env file is edited where it lives, the link is kept."""
        return os.path.realpath(self.path)

    def load(self):
        path = self.target()
        if os.path.isdir(path):
            raise FlagError("path %s is a directory, not an env file" % self.path)
        if not os.path.exists(path):
            if not os.path.isdir(os.path.dirname(path) or "."):
                raise FlagError("the directory of path %s does not exist" % self.path)
            return
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except (IOError, OSError) as exc:
            raise FlagError("cannot read %s: %s" % (self.path, exc.strerror or exc))
        self.exists = True
        # surrogateescape: bytes that are not UTF-8 are written back exactly as they were read
        self.original = data.decode("utf-8", "surrogateescape")
        self.lines = [EnvLine(text) for text in self.original.splitlines(True)]

    def _matching(self, key):
        return [line for line in self.lines if line.key == key]

    def read(self):
        self.load()
        flags = self._matching(self.key)
        rollouts = self._matching(self.rollout_key)
        if len(flags) > 1:
            self.warnings.append("%s is set %d times in %s; every occurrence is managed" % (self.key, len(flags), self.path))
        if not flags:
            rollout = parse_rollout(rollouts[-1].value, "%s in %s" % (self.rollout_key, self.path)) if rollouts else None
            return flag_state(False, False, rollout)
        enabled = parse_bool(flags[-1].value)
        if enabled is None:
            self.warnings.append("%s holds %r, which is not a boolean; it counts as disabled" % (self.key, flags[-1].value[:40]))
        rollout = parse_rollout(rollouts[-1].value, "%s in %s" % (self.rollout_key, self.path)) if rollouts else None
        return flag_state(True, bool(enabled), rollout)

    # -- planning and writing ----------------------------------------------------------------
    def _eol(self):
        for line in self.lines:
            if line.eol:
                return line.eol
        return "\n"

    def _terminate_last(self):
        if self.lines and not self.lines[-1].eol:
            self.lines[-1].eol = self._eol()

    def _new_line(self, key, value, like=None):
        line = EnvLine("%s=%s" % (key, value))
        if like is not None:
            line.lead, line.eq = like.lead, like.eq
            line.with_value(value)
        line.eol = self._eol()
        return line

    def _set(self, key, value_for, after_key=None):
        """Give every ``key`` line the value ``value_for(old)``; add one line when there is none."""
        found = self._matching(key)
        for line in found:
            line.with_value(value_for(line.value))
        if found:
            return
        anchor = self._matching(after_key) if after_key else []
        if anchor:
            index = self.lines.index(anchor[-1]) + 1
            new = self._new_line(key, value_for(None), anchor[-1])
            if not anchor[-1].eol:
                # the anchor was the file's unterminated last line: the new line takes over that role
                anchor[-1].eol, new.eol = self._eol(), ""
            self.lines.insert(index, new)
        else:
            self._terminate_last()
            self.lines.append(self._new_line(key, value_for(None)))

    def _remove(self, key):
        unterminated = bool(self.lines) and not self.lines[-1].eol
        self.lines = [line for line in self.lines if line.key != key]
        if unterminated and self.lines and self.lines[-1].eol:
            # the removed line was the file's unterminated last line: the file still ends without one
            # (the reverse of what _set does when it adds a line there)
            self.lines[-1].eol = ""

    def plan(self, before, after, rollout_absent=False):
        """Render the file for ``after``; True when it differs from the file on disk.

        ``rollout_absent``: remove the rollout companion line(s) instead of leaving them as they are.
        """
        if not after["exists"]:
            self._remove(self.key)
            self._remove(self.rollout_key)
        else:
            if not self.exists and not self.create:
                raise FlagError("%s does not exist; set create=true to create it" % self.path)
            self._set(self.key, lambda old: bool_word(after["enabled"], old))
            if after["rollout"] is not None:
                self._set(self.rollout_key, lambda old: str(after["rollout"]), after_key=self.key)
            elif clears_rollout(before, rollout_absent):
                self._remove(self.rollout_key)
        self.new_text = "".join(line.text() for line in self.lines)
        if not self.exists:
            return after["exists"]
        return self.new_text != self.original

    def apply(self):
        path = self.target()
        data = self.new_text.encode("utf-8", "surrogateescape")
        try:
            if self.exists:
                info = os.stat(path)
                atomic_write(path, data, mode=info.st_mode & 0o7777)
                if (info.st_uid, info.st_gid) != (os.geteuid(), os.getegid()):
                    os.chown(path, info.st_uid, info.st_gid)
            else:
                atomic_write(path, data, mode=self.mode)
        except (IOError, OSError) as exc:
            raise FlagError("cannot write %s: %s (the file was left unchanged)" % (self.path, exc.strerror or exc))

    def diff(self):
        """Only the managed lines: the rest of an env file holds secrets that must not be shown."""
        header = "%s (%s, %s)" % (self.path, self.key, self.rollout_key)
        managed = (self.key, self.rollout_key)
        before = "".join(split_eol(text)[0] + "\n" for text in self.original.splitlines(True)
                         if EnvLine(text).key in managed)
        after = "".join(line.body + "\n" for line in self.lines if line.key in managed)
        return dict(before=before, after=after, before_header=header, after_header=header)
