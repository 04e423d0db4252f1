"""The example inventories and AWX agree on their secrets, and staging rehearses production's strategies.

A team fills in inventories/production (or loads awx/ into an AWX): a vault variable that its
group_vars read but that the vault example or the AWX credential does not provide is an undefined
variable at 2 a.m., on the first host that needs it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
INVENTORIES = REPO / "inventories"
VAULT_REF = re.compile(r"\bvault_\w+")


class _Loader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
    """SafeLoader that reads AWX's ``!unsafe`` strings as plain strings."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load(path: Path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # nosec: SafeLoader subclass


def vault_references(inventory: Path) -> set[str]:
    """Every vault_* variable the inventory's group_vars read (the vault example itself excluded)."""
    return {name for path in (inventory / "group_vars").rglob("*.yml")
            for name in VAULT_REF.findall(path.read_text(encoding="utf-8"))}


def vault_example(inventory: Path) -> set[str]:
    return set(load(inventory / "group_vars" / "all" / "vault.yml.example"))


@pytest.mark.parametrize("name", ["production", "staging"])
def test_every_vault_variable_the_group_vars_read_is_in_the_vault_example(name):
    inventory = INVENTORIES / name
    used, example = vault_references(inventory), vault_example(inventory)
    assert used, "the group_vars read no vault variable: the test would pass on nothing"
    assert used - example == set(), f"{name}: read but missing from group_vars/all/vault.yml.example"
    assert example - used == set(), f"{name}: in the vault example but read by nothing"


def test_awx_provides_every_vault_variable_production_reads():
    config = load(REPO / "awx" / "controller_config.yml")
    provided = set(config["controller_inventories"][0]["variables"])
    assert vault_references(INVENTORIES / "production") - provided == set()


def test_the_lab_reads_its_secrets_under_production_vault_names():
    used = vault_references(INVENTORIES / "lab")
    assert used and used <= vault_example(INVENTORIES / "production")


def _without(document: dict, *keys: str) -> dict:
    return {k: v for k, v in document.items() if k not in keys}


@pytest.mark.parametrize("group", ["clinic_kin", "clinic_lub", "clinic_gom"])
def test_staging_clinics_deploy_with_production_strategies(group):
    """Staging exists to rehearse production: each clinic uses the same strategy and settings there,
    only its servers differ."""
    production = load(INVENTORIES / "production" / "group_vars" / f"{group}.yml")
    staging = load(INVENTORIES / "staging" / "group_vars" / f"{group}.yml")
    servers = ("clinic_db_host", "clinic_redis_host")
    assert _without(staging, *servers) == _without(production, *servers)


def test_staging_shares_production_settings_but_its_environment_and_url():
    production = load(INVENTORIES / "production" / "group_vars" / "clinics.yml")
    staging = load(INVENTORIES / "staging" / "group_vars" / "clinics.yml")
    own = ("clinic_environment", "clinic_base_url")
    assert _without(staging, *own) == _without(production, *own)
    assert staging["clinic_environment"] == "staging"
