"""awx/controller_config.yml as the tests read it, and what AWX does with a sliced job template.

``load_config`` reads the file as Ansible does (``!unsafe`` strings are kept apart: AWX or the job
evaluates them later, never the loader). ``render`` evaluates the Jinja that loading it evaluates
(awx/configure.yml reads the file as a vars file) with Jinja's native types, as Ansible does, so a
test can check what AWX would be given for any site setting. The one Ansible filter it needs,
``bool``, is Ansible's own conversion (module_utils); Ansible's controller-side filter plugins are
not imported, because importing them changes how modules run in-process by the unit tests report
their warnings. A filter the file starts to use fails here by name until it is added.

The rest follows AWX's source (ansible/awx, commit e21dd0a0933fd544d1fe2513c54fe41203775eb5):

- An inventory update imports ``ansible-inventory --list --export`` of the source
  (awx/main/tasks/jobs.py, RunInventoryUpdate.build_args).
- A job's inventory is a script in ``<private data dir>/inventory/hosts`` that prints the inventory
  as JSON (awx/main/tasks/jobs.py, write_inventory_file).
- Slice k of a job sliced N ways holds the inventory's hosts ordered by name, from index k-1 in steps
  of N (awx/main/models/inventory.py: Inventory.get_script_data orders the hosts by ``name``, then
  get_sliced_hosts keeps ``host_queryset[slice_number - 1::slice_count]``); a group keeps only the
  hosts of the slice, with its children and its variables.
- A job's ``set_stats`` data (``artifact_data`` of its ``playbook_on_stats`` event) become extra vars
  of the jobs after it in a workflow, below the workflow's own extra vars (survey answers) and above
  the job template's (awx/main/models/workflow.py, WorkflowJobNode.get_job_kwargs); the slices of a
  sliced job get them too, through the workflow job the slicing creates.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from ansible.module_utils.parsing.convert_bool import boolean
from jinja2 import StrictUndefined
from jinja2.nativetypes import NativeEnvironment

from harness.ansible import BIN, REPO, ansible_env

CONFIG = REPO / "awx" / "controller_config.yml"


class Unsafe(str):
    """A string marked ``!unsafe``: never templated."""


class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """YAML as Ansible reads it: ``!unsafe`` marks a string that is never templated."""


_Loader.add_constructor("!unsafe", lambda loader, node: Unsafe(loader.construct_scalar(node)))


def load_config() -> dict:
    """The file as written (Jinja not evaluated)."""
    return yaml.load(CONFIG.read_text(encoding="utf-8"), Loader=_Loader)  # nosec B506: SafeLoader subclass


def render(value, **settings):
    """``value`` (a part of the config) with its Jinja evaluated against the file's variables, the
    given ``settings`` overriding them (``render(x, medops_awx_fleet_slices=3)``); a variable that is
    not defined is an error, as it would be when loading."""
    variables = {**load_config(), **settings}
    env = NativeEnvironment(undefined=StrictUndefined)
    env.filters["bool"] = boolean

    def walk(item):
        if isinstance(item, Unsafe):
            return item
        if isinstance(item, str) and "{{" in item:
            return walk(env.from_string(item).render(variables))
        if isinstance(item, dict):
            return {key: walk(val) for key, val in item.items()}
        if isinstance(item, list):
            return [walk(val) for val in item]
        return item

    return walk(value)


def survey_defaults(template: dict) -> dict:
    """The extra vars AWX sends when every question keeps its default (empty optional answers are left out)."""
    answers = {}
    for question in template["survey_spec"]["spec"]:
        default = question.get("default", "")
        if default == "" and not question.get("required"):
            continue
        answers[question["variable"]] = default
    return answers


def export_inventory(inventory: Path | str, env: dict | None = None) -> dict:
    """What an AWX inventory update imports from ``inventory``: ``ansible-inventory --list --export``."""
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--list", "--export"],
                          cwd=REPO, env=ansible_env(env), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def inventory_hosts(inventory: dict) -> list[str]:
    """Every host of an inventory in ``--list`` form, ordered by name as AWX orders them."""
    hosts = set(inventory.get("_meta", {}).get("hostvars", {}))
    for name, group in inventory.items():
        if name != "_meta":
            hosts.update(group.get("hosts", []))
    return sorted(hosts)


def awx_slice(inventory: dict, number: int, count: int) -> dict:
    """Slice ``number`` (from 1) of ``count`` of an inventory in ``--list`` form, as AWX hands it to
    that slice's job."""
    kept = set(inventory_hosts(inventory)[number - 1::count])
    sliced = {"_meta": {"hostvars": {host: hostvars for host, hostvars in inventory["_meta"]["hostvars"].items()
                                     if host in kept}}}
    for name, group in inventory.items():
        if name == "_meta":
            continue
        part = {key: value for key, value in group.items() if key in ("children", "vars") and value}
        hosts = [host for host in group.get("hosts", []) if host in kept]
        if hosts:
            part["hosts"] = hosts
        if part or name == "all":
            sliced[name] = part
    return sliced


def write_job_inventory(private_data_dir: Path, inventory: dict) -> Path:
    """The job's inventory as AWX writes it: an executable script (0700) that prints the JSON."""
    path = Path(private_data_dir) / "inventory" / "hosts"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#! /usr/bin/env python3\n# -*- coding: utf-8 -*-\nprint(%r)\n" % json.dumps(inventory),
                    encoding="utf-8")
    path.chmod(0o700)
    return path


def runner_envvars(private_data_dir: Path, extra: dict | None = None) -> dict:
    """The environment of a job run with ansible-runner: the project's Ansible settings, ``extra``
    (the lab's state), and $PWD in the private data dir (the playbooks write reports under $PWD/reports)."""
    env = ansible_env(extra)
    names = ["ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_NOCOLOR", "ANSIBLE_PYTHON_INTERPRETER", "PATH",
             *(extra or {})]
    return {**{name: env[name] for name in names}, "PWD": str(private_data_dir)}


def job_artifacts(runner) -> dict:
    """The artifacts AWX keeps from a finished ansible-runner job: its ``set_stats`` data."""
    for event in runner.events:
        if event.get("event") == "playbook_on_stats":
            return event.get("event_data", {}).get("artifact_data", {})
    raise AssertionError("the job has no playbook_on_stats event")
