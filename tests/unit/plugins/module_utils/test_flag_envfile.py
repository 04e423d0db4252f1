"""Env-file flag store: line parsing and rendering, on real files in a temp directory."""

import pytest

from ansible_collections.medops.runbook.plugins.module_utils.flag_common import FlagError, desired_state
from ansible_collections.medops.runbook.plugins.module_utils.env_file import split_value
from ansible_collections.medops.runbook.plugins.module_utils.flag_envfile import EnvFileFlags, bool_word, env_key


@pytest.mark.parametrize("rest,parts", [
    ('"false"', ('"', "false", "")),
    ("'false'  # note", ("'", "false", "  # note")),
    ('"a\\"b" # c', ('"', 'a\\"b', " # c")),
    ("false", ("", "false", "")),
    ("false   # comment", ("", "false", "   # comment")),
    ("abc#not-comment", ("", "abc#not-comment", "")),
    ("1  ", ("", "1", "  ")),
    ("", ("", "", "")),
])
def test_split_value(rest, parts):
    assert split_value(rest) == parts


@pytest.mark.parametrize("old,enabled,word", [("false", True, "true"), ("0", True, "1"), ("no", True, "yes"),
                                              ("On", False, "Off"), ("TRUE", False, "FALSE"), (None, True, "true"),
                                              ("garbage", False, "false")])
def test_bool_word_keeps_vocabulary_and_case(old, enabled, word):
    assert bool_word(enabled, old) == word


def test_env_key():
    assert env_key("new_ui", "FEATURE_FLAG_") == "FEATURE_FLAG_NEW_UI"
    assert env_key("bulk-operations", "FEATURE_FLAG_") == "FEATURE_FLAG_BULK_OPERATIONS"
    assert env_key("FEATURE_FLAG_NEW_UI", "FEATURE_FLAG_") == "FEATURE_FLAG_NEW_UI"
    assert env_key("new_ui", "") == "NEW_UI"
    with pytest.raises(FlagError, match="not a valid env variable name"):
        env_key("new ui!", "FEATURE_FLAG_")


def render(tmp_path, data, state="enabled", rollout=None, create=False, rollout_absent=False):
    path = tmp_path / "app.env"
    if data is not None:
        path.write_bytes(data)
    store = EnvFileFlags(str(path), "FF_X", "FF_X_ROLLOUT", create=create)
    before = store.read()
    changed = store.plan(before, desired_state(before, state, rollout, rollout_absent), rollout_absent)
    return before, changed, store.new_text.encode("utf-8", "surrogateescape")


def test_crlf_and_unterminated_last_line(tmp_path):
    before, changed, text = render(tmp_path, b"A=1\r\nFF_X=false", rollout=10)
    assert before == {"exists": True, "enabled": False, "rollout": None} and changed
    assert text == b"A=1\r\nFF_X=true\r\nFF_X_ROLLOUT=10"


def test_invalid_utf8_elsewhere_survives(tmp_path):
    data = b"NAME=caf\xe9\nFF_X=0\n"
    assert render(tmp_path, data)[2] == b"NAME=caf\xe9\nFF_X=1\n"


def test_no_change_when_already_so(tmp_path):
    before, changed, text = render(tmp_path, b"export FF_X = 'yes'\nFF_X_ROLLOUT=5\n", rollout=5)
    assert before == {"exists": True, "enabled": True, "rollout": 5} and changed is False


def test_missing_file_needs_create(tmp_path):
    with pytest.raises(FlagError, match="set create=true"):
        render(tmp_path, None)
    assert render(tmp_path, None, create=True)[2] == b"FF_X=true\n"


def test_absent_removes_flag_and_rollout(tmp_path):
    before, changed, text = render(tmp_path, b"# c\nFF_X=1\nFF_X_ROLLOUT=5\nB=2\n", state="absent")
    assert changed and text == b"# c\nB=2\n"


def test_a_bad_rollout_value_is_reported(tmp_path):
    with pytest.raises(FlagError, match="FF_X_ROLLOUT in .*app.env holds 'lots'"):
        render(tmp_path, b"FF_X=1\nFF_X_ROLLOUT=lots\n")


@pytest.mark.parametrize("data,state,expected", [
    (b"# c\r\nFF_X=true\r\nFF_X_ROLLOUT=25\r\nB=2\r\n", "enabled", b"# c\r\nFF_X=true\r\nB=2\r\n"),
    (b"export FF_X='1'  # x\nexport FF_X_ROLLOUT=5\nFF_X_ROLLOUT=7\n", "disabled", b"export FF_X='0'  # x\n"),
    # the rollout line was the unterminated last line: the file still ends without a newline
    (b"A=1\nFF_X=false\nFF_X_ROLLOUT=5", "disabled", b"A=1\nFF_X=false"),
])
def test_rollout_absent_removes_only_the_rollout_lines(tmp_path, data, state, expected):
    before, changed, text = render(tmp_path, data, state=state, rollout_absent=True)
    assert before["rollout"] is not None and changed is True
    assert text == expected


def test_rollout_absent_undoes_an_added_rollout_byte_for_byte(tmp_path):
    for start in (b"A=1\r\nFF_X=false  # ui\r\nB=2", b"FF_X=no", b"A=1\nFF_X=0\n"):
        _before, changed, added = render(tmp_path, start, rollout=25)
        assert changed and b"FF_X_ROLLOUT=25" in added
        (tmp_path / "app.env").write_bytes(added)
        before, changed, text = render(tmp_path, added, state="disabled", rollout_absent=True)
        assert before["rollout"] == 25 and changed is True
        assert text == start


def test_rollout_absent_is_idempotent(tmp_path):
    before, changed, text = render(tmp_path, b"FF_X=true\nB=2\n", rollout_absent=True)
    assert before == {"exists": True, "enabled": True, "rollout": None} and changed is False
