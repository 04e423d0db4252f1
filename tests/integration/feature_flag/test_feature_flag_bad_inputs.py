"""Bad inputs end in one clear message, never a traceback, and leave the env file as it was."""

from __future__ import annotations

import pytest

from harness.ansible import run_module_cases

ENV = b"# app\nFEATURE_FLAG_NEW_UI=false\n"

CASES = [
    ("rollout_too_high", dict(rollout=101), "rollout must be between 0 and 100"),
    ("rollout_negative", dict(rollout=-5), "rollout must be between 0 and 100"),
    ("rollout_with_absent", dict(state="absent", rollout=5), "rollout cannot be combined with state=absent"),
    ("rollout_with_rollout_absent", dict(rollout=25, rollout_absent=True),
     "rollout and rollout_absent=true are mutually exclusive"),
    ("unknown_state", dict(state="on"), "value of state must be one of: enabled, disabled, absent"),
    ("envfile_without_path", dict(path=None), "backend=envfile needs path"),
    ("unleash_without_token", dict(backend="unleash", path=None, api_url="http://127.0.0.1:9"),
     "backend=unleash needs api_token"),
    ("redis_without_key", dict(backend="redis", path=None, redis_url="redis://127.0.0.1:9/0"),
     "backend=redis needs key"),
    ("option_of_another_backend", dict(api_url="http://127.0.0.1:9"), "api_url is an option of backend=unleash, not of backend=envfile"),
    ("bad_env_name", dict(name="new ui!"), "is not a valid env variable name"),
    ("bad_unleash_url", dict(backend="unleash", path=None, api_url="ftp://flags", api_token="unused-admin-token"),
     "api_url must be an http:// or https:// URL"),
    ("bad_unleash_name", dict(backend="unleash", path=None, name="new ui", api_url="http://127.0.0.1:9",
                              api_token="unused-admin-token"), "is not a valid Unleash flag name"),
    ("bad_mode", dict(mode="rw-r--r--", create=True), "mode must be octal permissions"),
    ("bad_redis_url", dict(backend="redis", path=None, key="flags:a", redis_url="http://127.0.0.1:9"), "redis_url must start with redis://"),
    ("rollout_not_a_number", dict(rollout="half"), "rollout"),
    ("path_is_a_directory", dict(path="DIR"), "is a directory, not an env file"),
]


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory):
    """Every case in one ansible-playbook run, each on an env file of its own: {label: (dir, result)}."""
    dirs, cases = {}, []
    for label, args, _message in CASES:
        directory = tmp_path_factory.mktemp(label)
        envfile = directory / ".env"
        envfile.write_bytes(ENV)
        params = dict(name="new_ui", path=str(envfile))
        params.update(args)
        if params.get("path") == "DIR":
            params["path"] = str(directory)
        dirs[label] = directory
        cases.append({key: value for key, value in params.items() if value is not None})
    results = run_module_cases("feature_flag", cases)
    return {label: (dirs[label], result) for (label, _args, _message), result in zip(CASES, results)}


@pytest.mark.parametrize("label,message", [(label, message) for label, _args, message in CASES], ids=[case[0] for case in CASES])
def test_bad_input(bad_runs, label, message):
    directory, result = bad_runs[label]
    assert result["failed"] is True, label
    assert message in result["msg"], result["msg"]
    assert "Traceback" not in result["_run"].output
    assert (directory / ".env").read_bytes() == ENV
    assert sorted(p.name for p in directory.iterdir()) == [".env"]
