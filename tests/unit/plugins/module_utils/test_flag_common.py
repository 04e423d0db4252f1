"""The flag state shared by the three stores: what a task asks for, given what is stored."""

import pytest

from ansible_collections.medops.runbook.plugins.module_utils.flag_common import (
    FlagError, clears_rollout, desired_state, flag_state, parse_bool, parse_rollout)


def test_rollout_not_given_is_kept():
    before = flag_state(True, True, 25)
    assert desired_state(before, "disabled", None) == {"exists": True, "enabled": False, "rollout": 25}
    assert desired_state(before, "enabled", 50) == {"exists": True, "enabled": True, "rollout": 50}


def test_missing_flag_and_absent():
    missing = flag_state(False, False, 40)  # an orphan rollout without its flag is not kept
    assert desired_state(missing, "enabled", None) == {"exists": True, "enabled": True, "rollout": None}
    assert desired_state(flag_state(True, True, 5), "absent", None) == {"exists": False, "enabled": False, "rollout": None}


def test_rollout_absent_asks_for_no_rollout():
    before = flag_state(True, True, 25)
    assert desired_state(before, "disabled", None, rollout_absent=True) == {"exists": True, "enabled": False, "rollout": None}
    assert clears_rollout(before, True) is True
    assert clears_rollout(before, False) is False
    assert clears_rollout(flag_state(True, True, None), True) is False  # nothing to remove: no write
    assert clears_rollout(flag_state(False, False, 40), True) is True  # an orphan rollout goes too


@pytest.mark.parametrize("word,value", [("true", True), ("TRUE", True), (" 1 ", True), ("on", True), ("yes", True),
                                        ("false", False), ("0", False), ("", False), ("Off", False), ("maybe", None)])
def test_parse_bool(word, value):
    assert parse_bool(word) is value


def test_parse_rollout():
    assert parse_rollout("25", "x") == 25 and parse_rollout("25%", "x") == 25 and parse_rollout("100.0", "x") == 100
    for bad in ("abc", "101", "-1", "2.5"):
        with pytest.raises(FlagError, match="FEATURE_X_ROLLOUT in .env"):
            parse_rollout(bad, "FEATURE_X_ROLLOUT in .env")
