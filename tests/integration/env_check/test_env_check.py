"""env_check through ansible-playbook on real env files: findings name keys, values never show,
not even at -vvv; check mode, a missing file and an empty request are clear failures."""

from harness.ansible import run_module

SECRET = "short-secret-20chars"  # 20 characters
LONG = "L" * 48


def write_env(tmp_path, text):
    env = tmp_path / "app.env"
    env.write_text(text)
    env.chmod(0o600)
    return str(env)


def test_a_short_secret_fails_naming_the_key_and_never_the_value(tmp_path):
    path = write_env(tmp_path, f"NODE_ENV=production\nJWT_SECRET={SECRET}\nSESSION_SECRET={LONG}\n"
                               "DATABASE_URL=postgresql://db.internal:5432/clinic\nREDIS_URL=localhost:6379\n")
    result = run_module("env_check", {"path": path, "required": ["NODE_ENV"], "secrets": ["JWT_SECRET", "SESSION_SECRET"],
                                      "urls": ["DATABASE_URL", "REDIS_URL"]}, "-vvv")
    assert result["failed"] is True and result["changed"] is False
    assert "JWT_SECRET is 20 characters long, shorter than 32" in result["msg"]
    assert "REDIS_URL is not an absolute URL" in result["msg"]
    assert result["short_secrets"] == ["JWT_SECRET"] and result["bad_urls"] == ["REDIS_URL"]
    output = result["_run"].output
    for value in (SECRET, LONG, "localhost:6379", "db.internal"):
        assert value not in output, f"{value!r} reached the output"


def test_a_good_file_passes_and_check_mode_reads_the_same(tmp_path):
    path = write_env(tmp_path, f"export JWT_SECRET='{LONG}'\nAPI_BASE_URL=https://kin.example.org\n")
    args = {"path": path, "secrets": ["JWT_SECRET"], "urls": ["API_BASE_URL"], "url_schemes": ["https"]}
    for check in (False, True):
        result = run_module("env_check", args, check=check)
        assert result.get("failed") is not True and result["changed"] is False and result["problems"] == []
        assert result["checked"] == ["API_BASE_URL", "JWT_SECRET"]


def test_findings_are_returned_without_failing_when_asked(tmp_path):
    path = write_env(tmp_path, "NODE_ENV=\n")
    result = run_module("env_check", {"path": path, "required": ["NODE_ENV", "CLINIC"], "fail_on_problems": False})
    assert result.get("failed") is not True and result["problems"] == ["CLINIC is not set", "NODE_ENV is empty"]


def test_bad_input_is_a_clear_error(tmp_path):
    missing = run_module("env_check", {"path": str(tmp_path / "nope.env"), "required": ["A"]})
    assert missing["failed"] and "cannot read the env file" in missing["msg"] and "Traceback" not in missing["_run"].output
    nothing = run_module("env_check", {"path": write_env(tmp_path, "A=1\n")})
    assert nothing["failed"] and "nothing to check" in nothing["msg"]
    short = run_module("env_check", {"path": write_env(tmp_path, "A=1\n"), "secrets": ["A"], "min_secret_length": 0})
    assert short["failed"] and "min_secret_length must be at least 1" in short["msg"]
