# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How long each step of a run took, from the marks the run set as each step started.

One mark per step (``step``, ``started`` in seconds since the epoch), not one before and one after:
a step lasts until the next one starts, the last one until the run's end, and a step that failed
keeps its time too. The filter ``medops.runbook.step_seconds`` is this function.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def step_seconds(marks, end):
    """[{step, seconds}] in the marks' order; ValueError on marks without step or started."""
    try:
        starts = [(str(mark["step"]), float(mark["started"])) for mark in marks]
        ends = [started for _step, started in starts[1:]] + [float(end)]
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError("step_seconds expects marks with step and started, and an end time: %s" % exc)
    return [{"step": step, "seconds": round(max(0.0, stop - started), 2)} for (step, started), stop in zip(starts, ends)]
