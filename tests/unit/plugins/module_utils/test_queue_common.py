"""The drain loop's cadence (fake clock) and the run's order: check all queues, then change, then wait."""

import pytest

from harness.fakes import FakeClock

from ansible_collections.medops.runbook.plugins.module_utils.queue_common import QueueError, QueueRun, wait_until_idle


def test_drain_polls_every_interval_and_stops_at_the_first_idle_poll():
    clock = FakeClock()
    active = iter([3, 2, 2, 0, 5])
    report = wait_until_idle(lambda: next(active), timeout=60, interval=0.5, clock=clock, sleep=clock.sleep, wall=clock)
    assert report["idle"] is True and report["polls"] == 4 and clock.sleeps == [0.5, 0.5, 0.5]
    # the idle poll is the one right after the last busy poll: one interval later
    assert report["finished_at"] - report["last_busy_at"] == pytest.approx(0.5)
    assert report["waited"] == pytest.approx(1.5)


def test_drain_timeout_polls_once_more_at_the_deadline():
    clock = FakeClock()
    report = wait_until_idle(lambda: 1, timeout=1.2, interval=0.5, clock=clock, sleep=clock.sleep, wall=clock)
    assert report["idle"] is False and report["active"] == 1
    assert clock.sleeps == [0.5, 0.5, 0.2] and report["polls"] == 4 and report["waited"] == pytest.approx(1.2)


def test_drain_of_an_idle_queue_polls_once():
    clock = FakeClock()
    report = wait_until_idle(lambda: 0, timeout=0, interval=1, clock=clock, sleep=clock.sleep, wall=clock)
    assert report["idle"] is True and report["polls"] == 1 and report["last_busy_at"] is None and clock.sleeps == []


class FakeBackend(object):
    def __init__(self, queues, active=None):
        self.queues = queues  # name -> paused (None: missing)
        self.active_counts = list(active or [0])
        self.calls = []

    def describe_missing(self):
        return "fake"

    def status(self, queue):
        paused = self.queues.get(queue)
        return dict(exists=paused is not None, paused=bool(paused), counts=dict(active=self.active_counts[0]))

    def would_change(self, queue, status, want_paused):
        return status["paused"] != want_paused

    def pause(self, queue, status):
        self.calls.append(("pause", queue))
        changed = not self.queues[queue]
        self.queues[queue] = True
        return changed

    def resume(self, queue, status):
        self.calls.append(("resume", queue))
        changed = self.queues[queue]
        self.queues[queue] = False
        return changed

    def active(self, queue):
        return self.active_counts.pop(0) if len(self.active_counts) > 1 else self.active_counts[0]


def test_a_missing_queue_fails_before_anything_changes():
    backend = FakeBackend({"a": False, "b": False})
    with pytest.raises(QueueError, match="ghost not found .*nothing was changed"):
        QueueRun(backend, ["a", "ghost", "b"], "paused").run()
    assert backend.calls == []


def test_missing_ok_skips_and_reports_it():
    backend = FakeBackend({"a": False})
    result = QueueRun(backend, ["a", "ghost"], "paused", missing_ok=True).run()
    assert result["changed"] is True and result["missing"] == ["ghost"] and backend.calls == [("pause", "a")]
    assert result["queues"]["ghost"] == dict(exists=False, changed=False, paused_before=None, paused=None, counts={})
    assert result["queues"]["a"]["paused_before"] is False and result["queues"]["a"]["paused"] is True


def test_second_identical_run_changes_nothing():
    backend = FakeBackend({"a": False})
    QueueRun(backend, ["a"], "paused").run()
    assert QueueRun(backend, ["a"], "paused").run()["changed"] is False


def test_check_mode_predicts_without_calling_the_backend():
    backend = FakeBackend({"a": True, "b": False})
    result = QueueRun(backend, ["a", "b"], "resumed", check_mode=True).run()
    assert backend.calls == [] and result["changed"] is True
    assert result["queues"]["a"]["changed"] is True and result["queues"]["a"]["paused"] is False
    assert result["queues"]["b"]["changed"] is False


def test_drain_timeout_raises_with_the_result_and_leaves_the_queues_paused():
    clock = FakeClock()
    backend = FakeBackend({"a": False}, active=[2])
    with pytest.raises(QueueError) as info:
        QueueRun(backend, ["a"], "drained", drain_timeout=1, poll_interval=0.25, clock=clock, sleep=clock.sleep).run()
    assert "stay PAUSED" in str(info.value) and "a: 2" in str(info.value)
    assert info.value.result["timed_out"] is True and info.value.result["queues"]["a"]["paused"] is True
    assert backend.calls == [("pause", "a")]


def test_drain_waits_for_the_sum_of_all_queues():
    clock = FakeClock()
    backend = FakeBackend({"a": False, "b": True}, active=[1, 1, 0, 1, 0, 0])
    result = QueueRun(backend, ["a", "b"], "drained", drain_timeout=10, poll_interval=1, clock=clock,
                      sleep=clock.sleep).run()
    assert result["drained"] is True and result["polls"] == 3 and result["changed"] is True
    assert result["queues"]["b"]["changed"] is False


class FlakyBackend(FakeBackend):
    """Redis goes away after the first queue was paused."""

    def pause(self, queue, status):
        if queue == "b":
            from ansible_collections.medops.runbook.plugins.module_utils.queue_common import QueueBackendError
            raise QueueBackendError("pause of queue 'b' failed: Connection reset by peer")
        return FakeBackend.pause(self, queue, status)


def test_an_error_half_way_says_what_was_already_changed():
    backend = FlakyBackend({"a": False, "b": False})
    with pytest.raises(QueueError) as info:
        QueueRun(backend, ["a", "b"], "paused").run()
    assert "Connection reset by peer; this task had already paused a" in str(info.value)
    assert info.value.result["changed"] is True
