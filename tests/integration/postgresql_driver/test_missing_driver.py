"""The PostgreSQL modules on a Python without psycopg2: a clear "install psycopg2" failure, no traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.ansible import run_module


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory):
    """A Python with the standard library only: a fresh virtualenv (Ansible ships its module_utils itself)."""
    venv = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import psycopg2"], capture_output=True, text=True, check=False)
    assert probe.returncode != 0 and "psycopg2" in probe.stderr, "the bare Python must lack psycopg2"
    return str(python)


@pytest.mark.parametrize("module,args", [
    ("db_backup", {"engine": "postgresql", "dest": "{tmp}/backups", "database": "clinic", "login_password": "pw-never-shown"}),
    ("db_maintenance", {"engine": "postgresql", "database": "clinic", "vacuum": True, "login_password": "pw-never-shown"}),
])
def test_module_without_psycopg2_names_the_library(bare_python, tmp_path, module, args):
    args = {key: value.format(tmp=tmp_path) if isinstance(value, str) else value for key, value in args.items()}
    result = run_module(module, args, env={"ANSIBLE_PYTHON_INTERPRETER": bare_python})
    assert result.get("failed") is True, result
    assert "Failed to import the required Python library (psycopg2)" in result["msg"], result["msg"]
    assert bare_python in result["msg"], "the message names the Python that lacks it"
    assert "Traceback" not in result["msg"]
    assert "pw-never-shown" not in result["_run"].output
    assert not (tmp_path / "backups").exists(), "nothing is created before the library check"
