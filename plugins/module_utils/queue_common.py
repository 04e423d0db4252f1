# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What queue_pause does with either backend: check every queue first, then change, then wait."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time


class QueueBackendError(Exception):
    """A backend could not read or change a queue; the message is meant for the user."""


class QueueError(Exception):
    """The run stopped; ``result`` carries what was observed and done up to that point."""

    def __init__(self, msg, result=None):
        super(QueueError, self).__init__(msg)
        self.result = result or {}


def wait_until_idle(count_active, timeout, interval, clock=time.monotonic, sleep=time.sleep, wall=time.time):
    """Poll ``count_active()`` until it is 0 or ``timeout`` seconds pass.

    Returns idle, waited (seconds), polls, active (last count), and wall-clock times that let a
    caller order the polls against other logs: ``last_busy_at`` is taken just before the last
    poll that still saw jobs, ``finished_at`` just after the final poll. The last poll happens at
    the deadline, so a job that ends just before it still counts as drained.
    """
    start = clock()
    deadline = start + timeout
    report = dict(polls=0, last_busy_at=None, started_at=wall())
    while True:
        before = wall()
        active = count_active()
        report.update(polls=report["polls"] + 1, active=active, finished_at=wall())
        now = clock()
        report["waited"] = now - start
        if active == 0:
            report["idle"] = True
            return report
        report["last_busy_at"] = before
        if now >= deadline:
            report["idle"] = False
            return report
        sleep(min(interval, max(deadline - now, 0)))


class QueueRun(object):
    """One module call over ``queues`` with a backend offering status/pause/resume/active."""

    def __init__(self, backend, queues, state, check_mode=False, missing_ok=False,
                 drain_timeout=300, poll_interval=1.0, clock=time.monotonic, sleep=time.sleep):
        self.backend = backend
        self.queues = queues
        self.state = state
        self.check_mode = check_mode
        self.missing_ok = missing_ok
        self.drain_timeout = drain_timeout
        self.poll_interval = poll_interval
        self.clock = clock
        self.sleep = sleep

    def run(self):
        start = self.clock()
        before = dict((q, self.backend.status(q)) for q in self.queues)
        missing = [q for q in self.queues if not before[q]["exists"]]
        if missing and not self.missing_ok:
            raise QueueError("queue(s) %s not found (%s); nothing was changed. Set missing_ok=true to skip absent queues"
                             % (", ".join(missing), self.backend.describe_missing()))
        present = [q for q in self.queues if before[q]["exists"]]
        changed = {}
        try:
            for queue in present:
                changed[queue] = self._transition(queue, before[queue])
            result = dict(changed=any(changed.values()), missing=missing, state=self.state)
            if self.state == "drained":
                result.update(self._drain(present, before))
            if self.check_mode:
                after = dict((q, self._predicted(before[q], changed[q])) for q in present)
            else:
                after = dict((q, self.backend.status(q)) for q in present)
        except QueueBackendError as exc:
            raise QueueError(self._interrupted(exc, changed, present),
                             dict(changed=any(changed.values()), missing=missing, state=self.state))
        result["queues"] = dict((q, self._report(q, before[q], after.get(q), changed.get(q, False))) for q in self.queues)
        result["elapsed"] = round(self.clock() - start, 3)
        if result.get("timed_out"):
            active = dict((q, result["queues"][q]["counts"].get("active")) for q in present)
            raise QueueError("drain timed out after %ss with jobs still active (%s); the queue(s) %s stay PAUSED - "
                             "resume them (state=resumed) once the deploy is done or rolled back"
                             % (self.drain_timeout, ", ".join("%s: %s" % kv for kv in sorted(active.items())),
                                ", ".join(present)), result)
        return result

    def _interrupted(self, exc, changed, present):
        done = [q for q, c in changed.items() if c]
        verb = "resumed" if self.state == "resumed" else "paused"
        msg = "%s; this task %s" % (exc, ("had already %s %s" % (verb, ", ".join(done))) if done else "changed no queue")
        if self.state == "drained" and len(changed) == len(present):
            msg += "; the queue(s) %s stay PAUSED" % ", ".join(present)
        return msg

    def _transition(self, queue, status):
        want_paused = self.state in ("paused", "drained")
        if self.check_mode:
            return self.backend.would_change(queue, status, want_paused)
        if want_paused:
            return self.backend.pause(queue, status)
        return self.backend.resume(queue, status)

    def _predicted(self, status, changed):
        predicted = dict(status)
        if changed:
            predicted["paused"] = self.state in ("paused", "drained")
        return predicted

    def _drain(self, present, before):
        if self.check_mode:
            active = sum(before[q]["counts"].get("active") or 0 for q in present)
            return dict(drained=active == 0, timed_out=False, drain_elapsed=0.0, polls=0, drain_started_at=None,
                        drain_last_busy_at=None, drain_finished_at=None)

        def count_active():
            return sum(self.backend.active(q) for q in present)

        poll = wait_until_idle(count_active, self.drain_timeout, self.poll_interval, self.clock, self.sleep)
        return dict(drained=poll["idle"], timed_out=not poll["idle"], drain_elapsed=round(poll["waited"], 3),
                    polls=poll["polls"], drain_started_at=poll["started_at"], drain_last_busy_at=poll["last_busy_at"],
                    drain_finished_at=poll["finished_at"])

    @staticmethod
    def _report(queue, before, after, changed):
        if not before["exists"]:
            return dict(exists=False, changed=False, paused_before=None, paused=None, counts={})
        report = dict(exists=True, changed=changed, paused_before=before["paused"], paused=after["paused"],
                      counts=after["counts"])
        for extra in ("layout", "bullmq_version"):
            if extra in after:
                report[extra] = after[extra]
        return report
