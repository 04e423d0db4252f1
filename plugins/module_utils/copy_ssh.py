# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Far copies on a backup host over SSH (OpenSSH's client, key auth, strict host key checking).

The backup host needs only a POSIX shell and coreutils (sha256sum, sync, mv): a copy is streamed
to ``.<name>.partial-<pid>``, hashed there, and renamed to ``<name>`` only when its sha256 is the
one expected, so a send cut short (the sender killed, the link lost) never leaves a final name.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shlex
import subprocess

from ansible_collections.medops.runbook.plugins.module_utils.backup_manifest import set_parent_death_signal
from ansible_collections.medops.runbook.plugins.module_utils.copy_target import CopyError, CopyTarget

CHUNK = 1024 * 1024

# Runs at the far end with $1 the partial name, $2 the final name, $3 the expected sha256.
PUT_SCRIPT = """set -u
tmp=$1; final=$2; want=$3
trap 'rm -f -- "$tmp"' EXIT HUP INT TERM PIPE
cat > "$tmp" || exit 4
got=$(sha256sum -- "$tmp" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then echo "sha256 at the far end is $got, expected $want" >&2; exit 3; fi
sync -- "$tmp" 2>/dev/null || sync
mv -f -- "$tmp" "$final" || exit 5
trap - EXIT HUP INT TERM PIPE
sync -- . 2>/dev/null || true
"""
# Complete entries only: partial files start with a dot.
LIST_SCRIPT = "find . -maxdepth 1 -type f ! -name '.*' -printf '%f\\t%s\\n'"
# $@: the names; each printed after a NUL, then its content.
READ_SCRIPT = 'for f in "$@"; do printf "\\0%s\\0" "$f"; cat -- "$f"; done'
CLEAN_SCRIPT = 'for n in "$@"; do for f in ."$n".partial-*; do [ -e "$f" ] && rm -f -- "$f" && echo "$f"; done; done; true'


class SshTarget(CopyTarget):
    kind = "ssh"

    def __init__(self, host, directory, user=None, port=22, key_file=None, known_hosts_file=None, timeout=30):
        self.host, self.directory, self.user, self.port = host, directory.rstrip("/") or "/", user, port
        self.key_file, self.known_hosts_file, self.timeout = key_file, known_hosts_file, timeout

    def describe(self):
        return "%s%s:%s" % ("%s@" % self.user if self.user else "", self.host, self.directory)

    def ssh_argv(self):
        argv = ["ssh", "-p", str(self.port), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                "-o", "ConnectTimeout=%d" % self.timeout, "-o", "ServerAliveInterval=15"]
        if self.key_file:
            argv += ["-i", self.key_file, "-o", "IdentitiesOnly=yes"]
        if self.known_hosts_file:
            argv += ["-o", "UserKnownHostsFile=%s" % self.known_hosts_file]
        return argv + ["%s@%s" % (self.user, self.host) if self.user else self.host, "--"]

    def remote(self, script, args=()):
        """One remote command: ``script`` run by sh in the target directory (made 0700 if new)."""
        quoted = " ".join(shlex.quote(a) for a in args)
        command = "umask 077 && mkdir -p -- %s && cd -- %s && sh -c %s sh %s" % (
            shlex.quote(self.directory), shlex.quote(self.directory), shlex.quote(script), quoted)
        return self.ssh_argv() + [command]

    def run(self, script, args=(), stdin=None, what="ssh"):
        try:
            proc = subprocess.Popen(self.remote(script, args), stdin=stdin or subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, preexec_fn=set_parent_death_signal)
        except OSError as exc:
            raise CopyError("cannot run ssh (install openssh-client): %s" % exc)
        out, err = proc.communicate()
        if proc.returncode == 255:
            raise CopyError("%s: ssh to %s failed: %s" % (what, self.describe(), _tail(err)))
        return proc.returncode, out or b"", _tail(err)

    def list_entries(self):
        rc, out, err = self.run(LIST_SCRIPT, what="list")
        if rc != 0:
            raise CopyError("cannot list %s: %s" % (self.describe(), err))
        entries = {}
        for line in out.decode("utf-8", "replace").splitlines():
            name, _tab, size = line.rpartition("\t")
            if name:
                entries[name] = int(size)
        return entries

    def read_texts(self, names):
        rc, out, err = self.run(READ_SCRIPT, names, what="read")
        if rc != 0:
            raise CopyError("cannot read %s on %s: %s" % (", ".join(names), self.describe(), err))
        parts = out.split(b"\0")[1:]
        return dict((parts[i].decode(), parts[i + 1].decode("utf-8", "replace")) for i in range(0, len(parts) - 1, 2))

    def read_text(self, name):
        return self.read_texts([name]).get(name, "")

    def put(self, path, name, sha256):
        partial = ".%s.partial-%d" % (name, os.getpid())
        with open(path, "rb") as handle:
            rc, _out, err = self.run(PUT_SCRIPT, [partial, name, sha256], stdin=handle, what="send %s" % name)
        if rc != 0:
            raise CopyError("sending %s to %s failed (rc %d): %s" % (name, self.describe(), rc, err))

    def far_sha256(self, names):
        found = dict((name, None) for name in names)
        if not names:
            return found
        _rc, out, _err = self.run('sha256sum -- "$@" 2>/dev/null; true', names, what="sha256sum")
        for line in out.decode("utf-8", "replace").splitlines():
            digest, _sep, name = line.partition("  ")
            if name in found:
                found[name] = digest
        return found

    def fetch(self, name, handle):
        """Streams the entry into ``handle`` (any object with write()), never whole in memory."""
        try:
            proc = subprocess.Popen(self.remote('cat -- "$1"', [name]), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, preexec_fn=set_parent_death_signal)
        except OSError as exc:
            raise CopyError("cannot run ssh (install openssh-client): %s" % exc)
        for chunk in iter(lambda: proc.stdout.read(CHUNK), b""):
            handle.write(chunk)
        err = proc.stderr.read()
        if proc.wait() != 0:
            raise CopyError("cannot fetch %s from %s: %s" % (name, self.describe(), _tail(err)))

    def remove(self, names):
        if names:
            rc, _out, err = self.run('rm -f -- "$@"', names, what="remove")
            if rc != 0:
                raise CopyError("cannot remove %s on %s: %s" % (", ".join(names), self.describe(), err))

    def clean_partials(self, names):
        if not names:
            return []
        rc, out, err = self.run(CLEAN_SCRIPT, names, what="clean")
        if rc != 0:
            raise CopyError("cannot remove partial copies on %s: %s" % (self.describe(), err))
        return [line for line in out.decode("utf-8", "replace").splitlines() if line]


def _tail(err):
    text = err.decode("utf-8", "replace") if isinstance(err, bytes) else (err or "")
    return "\n".join(text.strip().splitlines()[-5:])
