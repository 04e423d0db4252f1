"""The lab's inventory has production's shape: a playbook that passes on the lab meets the same groups
and the same variable names in inventories/production, only the values differ."""

from __future__ import annotations

import json
import shutil
import subprocess

from harness.ansible import BIN, REPO, ansible_env

# One clinic per strategy: kin release, lub container, gom blue_green, in both inventories.
PRODUCTION_HOST = {"kin": "kin-app-01.example.org", "lub": "lub-app-01.example.org", "gom": "gom-app-01.example.org"}


def host_variables(inventory, host: str, env: dict) -> dict:
    """The variables Ansible gives ``host`` (group_vars merged, nothing templated)."""
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--host", host],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def groups(inventory, env: dict) -> dict:
    proc = subprocess.run([str(BIN / "ansible-inventory"), "-i", str(inventory), "--list"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    return {name: sorted(value.get("children", [])) for name, value in listing.items() if name != "_meta"}


def production_copy(tmp_path):
    """inventories/production with its vault example filled in as the vault, as a team would have it."""
    copy = tmp_path / "production"
    shutil.copytree(REPO / "inventories" / "production", copy)
    shutil.copy(copy / "group_vars" / "all" / "vault.yml.example", copy / "group_vars" / "all" / "vault.yml")
    return copy


def names(variables: dict) -> set[str]:
    # Connection variables say how to reach a host (SSH to a loopback port in the lab, a DNS name in
    # production) and vault_* are where secrets are stored: the variables the roles read are the rest.
    return {name for name in variables if not name.startswith(("ansible_", "vault_"))}


def test_lab_and_production_clinics_have_the_same_groups_and_variable_names(production_lab, tmp_path):
    lab = production_lab
    production = production_copy(tmp_path)
    env, lab_env = ansible_env(), {**ansible_env(), **lab.env}
    assert groups(lab.inventory, lab_env) == groups(production, env)
    for code, production_host in PRODUCTION_HOST.items():
        in_lab = host_variables(lab.inventory, code, lab_env)
        in_production = host_variables(production, production_host, env)
        assert in_lab.get("deploy_strategy", "release") == in_production.get("deploy_strategy", "release"), code
        assert names(in_lab) - names(in_production) == set(), f"{code}: only in the lab"
        assert names(in_production) - names(in_lab) == set(), f"{code}: only in production"
