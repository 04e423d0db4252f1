# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the three feature flag stores (env file, Unleash, Redis) share: the flag state they
report, the desired state a task asks for, and the error they raise for the user."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

TRUE_WORDS = ("true", "1", "yes", "on", "enabled")
FALSE_WORDS = ("false", "0", "no", "off", "disabled", "")


class FlagError(Exception):
    """A message meant for the user (it never holds a secret)."""


def flag_state(exists=False, enabled=False, rollout=None):
    """The fields every store reports in ``before`` and ``after``."""
    return dict(exists=bool(exists), enabled=bool(enabled) if exists else False, rollout=rollout)


def desired_state(before, state, rollout, rollout_absent=False):
    """The state a task asks for, given what the store holds now.

    A rollout that the task does not give is left as it is: a task that only turns a flag off
    must not forget how far it had been rolled out. ``rollout_absent`` asks for no rollout value
    at all (the stores then remove theirs: see ``clears_rollout``).
    """
    if state == "absent":
        return flag_state(False, False, None)
    keep = before.get("rollout") if before.get("exists") and not rollout_absent else None
    return flag_state(True, state == "enabled", keep if rollout is None else rollout)


def clears_rollout(before, rollout_absent):
    """True when the store holds a rollout value (an orphan one included) that must go."""
    return bool(rollout_absent) and before.get("rollout") is not None


def parse_bool(value):
    """True/False for a stored flag value, None when it is not a boolean word."""
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def parse_rollout(value, where):
    """An int 0..100 from a stored rollout value; FlagError naming ``where`` otherwise."""
    text = str(value).strip().rstrip("%")
    try:
        number = float(text)
    except ValueError:
        raise FlagError("%s holds %r, which is not a rollout percentage (0-100)" % (where, str(value)[:40]))
    if number != int(number) or not 0 <= number <= 100:
        raise FlagError("%s holds %r, which is not a whole rollout percentage between 0 and 100" % (where, str(value)[:40]))
    return int(number)
