"""feature_flag, backend envfile, on real files: every byte outside the flag's lines is kept."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess

import pytest

from harness.ansible import run_module

MEDLINK = (
    b"# MedLink Claims Hub - staging\r\n"
    b"DATABASE_URL=\"postgres://claims:s3cret-Pass@db:5432/claims\"\r\n"
    b"\r\n"
    b"# feature flags (see runbook)\r\n"
    b"export FEATURE_FLAG_NEW_UI='false'   # new UI components\r\n"
    b"FEATURE_FLAG_ADVANCED_ANALYTICS=0\r\n"
    b"FEATURE_FLAG_BULK_OPERATIONS = \"no\"\r\n"
    b"SESSION_SECRET=abc#not-a-comment\r\n"
    b"LAST_LINE=without-newline"
)


def flag(path, name="new_ui", **args):
    return dict(backend="envfile", name=name, path=str(path), **args)


@pytest.fixture()
def envfile(tmp_path):
    path = tmp_path / ".env.staging"
    path.write_bytes(MEDLINK)
    return path


def test_enable_with_rollout_edits_only_the_flag_lines(envfile):
    result = run_module("feature_flag", flag(envfile, rollout=25))
    assert result["changed"] is True and result["restart_required"] is True
    assert result["before"] == {"exists": True, "enabled": False, "rollout": None}
    assert result["after"] == {"exists": True, "enabled": True, "rollout": 25}
    assert result["flag"]["key"] == "FEATURE_FLAG_NEW_UI"
    expected = MEDLINK.replace(
        b"export FEATURE_FLAG_NEW_UI='false'   # new UI components\r\n",
        b"export FEATURE_FLAG_NEW_UI='true'   # new UI components\r\nexport FEATURE_FLAG_NEW_UI_ROLLOUT=25\r\n")
    assert envfile.read_bytes() == expected

    result = run_module("feature_flag", flag(envfile, rollout=50))
    assert result["before"]["rollout"] == 25 and result["changed"] is True
    assert envfile.read_bytes() == expected.replace(b"_ROLLOUT=25", b"_ROLLOUT=50")


def test_vocabulary_spacing_and_quotes_are_kept(envfile):
    run_module("feature_flag", flag(envfile, name="advanced_analytics"))
    run_module("feature_flag", flag(envfile, name="BULK-OPERATIONS"))
    data = envfile.read_bytes()
    assert b"\r\nFEATURE_FLAG_ADVANCED_ANALYTICS=1\r\n" in data
    assert b"\r\nFEATURE_FLAG_BULK_OPERATIONS = \"yes\"\r\n" in data
    assert data.count(b"\r\n") == MEDLINK.count(b"\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_new_flag_is_appended_with_the_files_line_ending(envfile):
    result = run_module("feature_flag", flag(envfile, name="dark_mode", state="disabled", rollout=0))
    assert result["before"]["exists"] is False
    assert envfile.read_bytes() == MEDLINK + b"\r\nFEATURE_FLAG_DARK_MODE=false\r\nFEATURE_FLAG_DARK_MODE_ROLLOUT=0\r\n"


def test_second_identical_run_does_not_touch_the_file(envfile):
    run_module("feature_flag", flag(envfile, rollout=5))
    before = os.stat(envfile)
    result = run_module("feature_flag", flag(envfile, rollout=5))
    assert result["changed"] is False and result["restart_required"] is False and result["writes"] == []
    after = os.stat(envfile)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_disable_keeps_the_rollout_and_absent_removes_both_lines(envfile):
    run_module("feature_flag", flag(envfile, rollout=50))
    result = run_module("feature_flag", flag(envfile, state="disabled"))
    assert result["after"] == {"exists": True, "enabled": False, "rollout": 50}
    assert b"FEATURE_FLAG_NEW_UI='false'" in envfile.read_bytes()
    result = run_module("feature_flag", flag(envfile, state="absent"))
    assert result["changed"] is True and result["after"]["exists"] is False
    assert envfile.read_bytes() == MEDLINK.replace(b"export FEATURE_FLAG_NEW_UI='false'   # new UI components\r\n", b"")
    assert run_module("feature_flag", flag(envfile, state="absent"))["changed"] is False


def test_check_mode_changes_nothing(envfile):
    stat = os.stat(envfile)
    for args in (dict(rollout=25), dict(state="absent"), dict(name="new_flag")):
        result = run_module("feature_flag", flag(envfile, **args), check=True)
        assert result["changed"] is True
    assert envfile.read_bytes() == MEDLINK
    assert os.stat(envfile).st_mtime_ns == stat.st_mtime_ns
    assert sorted(os.listdir(envfile.parent)) == [envfile.name]


def test_diff_shows_the_flag_lines_and_no_secret(envfile):
    result = run_module("feature_flag", flag(envfile, rollout=25), diff=True)
    assert result["diff"]["before"] == "export FEATURE_FLAG_NEW_UI='false'   # new UI components\n"
    assert result["diff"]["after"] == ("export FEATURE_FLAG_NEW_UI='true'   # new UI components\n"
                                       "export FEATURE_FLAG_NEW_UI_ROLLOUT=25\n")
    assert "s3cret-Pass" not in result["_run"].output


def test_owner_and_mode_are_kept_and_a_symlink_stays_a_symlink(envfile, tmp_path):
    nobody = pwd.getpwnam("nobody")
    os.chmod(envfile, 0o640)
    if os.geteuid() == 0:
        os.chown(envfile, nobody.pw_uid, nobody.pw_gid)
    link = tmp_path / "current.env"
    link.symlink_to(envfile)
    owner = os.stat(envfile).st_uid, os.stat(envfile).st_gid
    result = run_module("feature_flag", flag(link, rollout=5))
    assert result["changed"] is True
    assert link.is_symlink() and b"FEATURE_FLAG_NEW_UI='true'" in envfile.read_bytes()
    stat = os.stat(envfile)
    assert stat.st_mode & 0o7777 == 0o640
    assert (stat.st_uid, stat.st_gid) == owner


def test_missing_file_is_created_only_when_asked(tmp_path):
    path = tmp_path / ".env.new"
    result = run_module("feature_flag", flag(path, rollout=5))
    assert result["failed"] is True and "set create=true" in result["msg"]
    assert not path.exists()
    result = run_module("feature_flag", flag(path, rollout=5, create=True), check=True)
    assert result["changed"] is True and not path.exists()
    result = run_module("feature_flag", flag(path, rollout=5, create=True))
    assert result["changed"] is True
    assert path.read_bytes() == b"FEATURE_FLAG_NEW_UI=true\nFEATURE_FLAG_NEW_UI_ROLLOUT=5\n"
    assert os.stat(path).st_mode & 0o777 == 0o600
    # absent on a missing file is already the wanted state
    assert run_module("feature_flag", flag(tmp_path / "none.env", state="absent"))["changed"] is False
    assert not (tmp_path / "none.env").exists()


def test_unwritable_file_is_a_clear_error_and_nothing_changes(envfile):
    """Root ignores permission bits, so the file is made immutable (chattr +i), which stops root too."""
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(envfile)], capture_output=True, check=False).returncode != 0:
        os.chmod(envfile.parent, 0o555)
        if os.geteuid() == 0:
            os.chmod(envfile.parent, 0o755)
            pytest.skip("running as root and this filesystem does not support chattr +i: no way to make the file unwritable")
    try:
        result = run_module("feature_flag", flag(envfile, rollout=25))
        assert result["failed"] is True
        assert result["msg"].startswith("cannot write %s:" % envfile), result["msg"]
        assert "left unchanged" in result["msg"]
        assert envfile.read_bytes() == MEDLINK
        assert sorted(os.listdir(envfile.parent)) == [envfile.name]
    finally:
        subprocess.run(["chattr", "-i", str(envfile)], capture_output=True, check=False)
        os.chmod(envfile.parent, 0o755)


def test_duplicate_keys_are_all_updated_with_a_warning(tmp_path):
    path = tmp_path / "dup.env"
    path.write_text("FEATURE_FLAG_NEW_UI=false\nOTHER=1\nFEATURE_FLAG_NEW_UI=false\n")
    result = run_module("feature_flag", flag(path))
    assert result["changed"] is True
    assert path.read_text() == "FEATURE_FLAG_NEW_UI=true\nOTHER=1\nFEATURE_FLAG_NEW_UI=true\n"
    assert any("set 2 times" in warning for warning in result["warnings"])


def test_rollout_absent_removes_the_companion_line_and_keeps_every_other_byte(envfile):
    added = run_module("feature_flag", flag(envfile, rollout=25))
    assert added["changed"] is True and b"FEATURE_FLAG_NEW_UI_ROLLOUT=25\r\n" in envfile.read_bytes()
    stat = os.stat(envfile)
    check = run_module("feature_flag", flag(envfile, state="disabled", rollout_absent=True), check=True, diff=True)
    assert check["changed"] is True and check["after"] == {"exists": True, "enabled": False, "rollout": None}
    assert check["diff"]["after"] == "export FEATURE_FLAG_NEW_UI='false'   # new UI components\n"
    assert "export FEATURE_FLAG_NEW_UI_ROLLOUT=25" in check["diff"]["before"]
    assert os.stat(envfile).st_mtime_ns == stat.st_mtime_ns and b"_ROLLOUT=25" in envfile.read_bytes()

    result = run_module("feature_flag", flag(envfile, state="disabled", rollout_absent=True))
    assert result["changed"] is True and result["restart_required"] is True
    assert result["before"] == {"exists": True, "enabled": True, "rollout": 25}
    assert result["after"] == {"exists": True, "enabled": False, "rollout": None}
    assert envfile.read_bytes() == MEDLINK

    stat = os.stat(envfile)
    again = run_module("feature_flag", flag(envfile, state="disabled", rollout_absent=True))
    assert again["changed"] is False and again["writes"] == []
    assert (os.stat(envfile).st_ino, os.stat(envfile).st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)
