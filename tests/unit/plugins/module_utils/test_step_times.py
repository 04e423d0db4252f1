"""step_times: a run's step marks to seconds per step (the filter medops.runbook.step_seconds)."""

from __future__ import annotations

import pytest

from ansible_collections.medops.runbook.plugins.module_utils.step_times import step_seconds


def test_each_step_lasts_until_the_next_starts_and_the_last_until_the_end():
    marks = [{"step": "drain", "started": 100.0}, {"step": "backup", "started": 101.5}, {"step": "ship", "started": "104.25"}]
    assert step_seconds(marks, 110.0) == [{"step": "drain", "seconds": 1.5}, {"step": "backup", "seconds": 2.75},
                                          {"step": "ship", "seconds": 5.75}]


def test_no_marks_no_steps_and_a_clock_step_back_is_not_negative():
    assert step_seconds([], 5) == []
    assert step_seconds([{"step": "x", "started": 10}], 9.5) == [{"step": "x", "seconds": 0.0}]


@pytest.mark.parametrize("marks", [[{"step": "x"}], [{"started": 1}], ["x"], [{"step": "x", "started": "soon"}]])
def test_bad_marks_are_a_clear_error(marks):
    with pytest.raises(ValueError, match="step_seconds expects marks"):
        step_seconds(marks, 1)
