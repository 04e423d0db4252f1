"""Run the collection's modules and playbooks the way users do: through ansible-playbook.

``run_module`` writes a one-task playbook that calls the module with arguments taken from a
vars file (so that no argument, secrets included, appears on a command line) and collects the
registered result as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

_MODULE_PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Call the module under test
      {module}: "{{{{ module_args }}}}"
      register: module_result
      ignore_errors: true
    - name: Save the result for the test
      ansible.builtin.copy:
        content: "{{{{ module_result | to_json }}}}"
        dest: "{{{{ result_path }}}}"
        mode: "0600"
      check_mode: false
      diff: false
      no_log: true
"""

# One call per case, in one ansible-playbook run: the module is still called by Ansible once per
# case (a loop), but the run's start-up (about a CPU-second) is paid once, not once per case. The
# loop runs over the cases' numbers, not the cases: Ansible echoes a loop item in its output as it
# is, and a case may hold a secret the module would keep out of it.
_CASES_PLAYBOOK = """\
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Call the module under test once per case
      {module}: "{{{{ shared_args | combine(module_cases[item]) }}}}"
      loop: "{{{{ range(module_cases | length) | list }}}}"
      register: module_results
      ignore_errors: true
    - name: Save the results for the test
      ansible.builtin.copy:
        content: "{{{{ module_results.results | to_json }}}}"
        dest: "{{{{ result_path }}}}"
        mode: "0600"
      check_mode: false
      diff: false
      no_log: true
"""


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @property
    def flat(self) -> str:
        """The output with line wrapping undone, so a message can be matched whole."""
        return " ".join(self.output.split())


def ansible_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
        ANSIBLE_COLLECTIONS_PATH=str(REPO / ".collections"),
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    )
    env.update(extra or {})
    return env


def run_playbook(playbook: str | Path, *args: str, inventory: str | Path | None = None, extra_vars: dict | None = None,
                 env: dict | None = None, timeout: float = 900, check: bool = False) -> PlaybookRun:
    """Run ``ansible-playbook`` from the repository root and return its exit code and output."""
    cmd = [str(BIN / "ansible-playbook"), str(playbook)]
    if inventory:
        cmd += ["-i", str(inventory)]
    if check:
        cmd.append("--check")
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as varsfile:
        json.dump(extra_vars or {}, varsfile)
    try:
        cmd += ["-e", f"@{varsfile.name}", *args]
        proc = subprocess.run(cmd, cwd=REPO, env=ansible_env(env), capture_output=True, text=True, timeout=timeout, check=False)
    finally:
        os.unlink(varsfile.name)
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr)


def run_module_cases(module: str, cases: list[dict], *args: str, shared: dict | None = None, check: bool = False,
                     env: dict | None = None, timeout: float = 600) -> list[dict]:
    """Call the module once per case (``shared`` and the case's arguments combined), in one
    ansible-playbook run, and return the results in case order, each with ``_run`` (the one run).

    For tables of bad inputs: each case is still its own module call, with its own result."""
    fqcn = module if "." in module else f"medops.runbook.{module}"
    with tempfile.TemporaryDirectory() as tmp:
        playbook = Path(tmp) / "cases.yml"
        playbook.write_text(_CASES_PLAYBOOK.format(module=fqcn))
        result_path = Path(tmp) / "results.json"
        run = run_playbook(playbook, *args, inventory="localhost,", check=check, env=env, timeout=timeout,
                           extra_vars={"module_cases": cases, "shared_args": shared or {}, "result_path": str(result_path)})
        if not result_path.exists():
            raise AssertionError(f"the module runs produced no results (rc={run.rc}):\n{run.output[-4000:]}")
        results = json.loads(result_path.read_text())
    if len(results) != len(cases):
        raise AssertionError(f"{len(cases)} cases but {len(results)} results:\n{run.output[-4000:]}")
    for result in results:
        result["_run"] = run
    return results


def run_module(module: str, module_args: dict, *args: str, check: bool = False, diff: bool = False,
               env: dict | None = None, timeout: float = 600) -> dict:
    """Call ``medops.runbook.<module>`` (or a fully qualified name) and return its result dict.

    The returned dict carries ``_run`` (the PlaybookRun) for tests that inspect the output.
    """
    fqcn = module if "." in module else f"medops.runbook.{module}"
    with tempfile.TemporaryDirectory() as tmp:
        playbook = Path(tmp) / "call.yml"
        playbook.write_text(_MODULE_PLAYBOOK.format(module=fqcn))
        result_path = Path(tmp) / "result.json"
        extra = ["--diff"] if diff else []
        run = run_playbook(playbook, *extra, *args, inventory="localhost,", check=check, env=env, timeout=timeout,
                           extra_vars={"module_args": module_args, "result_path": str(result_path)})
        if not result_path.exists():
            raise AssertionError(f"the module run produced no result (rc={run.rc}):\n{run.output[-4000:]}")
        result = json.loads(result_path.read_text())
    result["_run"] = run
    return result
