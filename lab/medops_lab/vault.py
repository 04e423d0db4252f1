"""The lab's Ansible Vault: the clinic secrets under production's vault variable names.

Production keeps its secrets in ``group_vars/all/vault.yml``, encrypted with ``ansible-vault``
(``inventories/production/group_vars/all/vault.yml.example``). The lab does the same with a vault
of its own: ``<state>/vault.json`` holds every secret as a vault-encrypted value, under exactly the
variable names of the example, and ``<state>/secrets/vault-password`` (0600) is its password. The
lab inventory hands the encrypted values to Ansible unread (``{"__ansible_vault": ...}``, the JSON
form Ansible reads from inventory scripts); ``inventories/lab/vault_password.py``, which
ansible.cfg names as the vault password file, gives Ansible the password. So the lab's secrets
reach a playbook exactly as production's do: through the vault, and nowhere in plain text.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

# Vault variable -> (the lab.json clinic key of the 0600 file holding each clinic's value, the clinic
# variable inventories/lab/group_vars/clinics.yml sets from it).
CLINIC_SECRETS = {
    "vault_clinic_db_passwords": ("db_password_file", "clinic_db_password"),
    "vault_clinic_db_backup_passwords": ("db_backup_password_file", "clinic_db_backup_password"),
    "vault_clinic_db_restore_passwords": ("db_restore_password_file", "clinic_db_restore_password"),
    "vault_clinic_db_provisioner_passwords": ("db_provisioner_password_file", "clinic_db_provisioner_password"),
    "vault_clinic_redis_passwords": ("redis_password_file", "clinic_redis_password"),
    "vault_clinic_api_tokens": ("api_token_file", "clinic_api_token"),
}


def password_file(state: Path) -> Path:
    return Path(state) / "secrets" / "vault-password"


def values_file(state: Path) -> Path:
    return Path(state) / "vault.json"


def _vault_lib(password: str):
    # Imported here: `medops_lab down` runs without Ansible; `up` runs in the project's virtualenv.
    from ansible.constants import DEFAULT_VAULT_ID_MATCH
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(password.encode("utf-8")))])


def ensure_password(state: Path) -> str:
    path = password_file(state)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    return path.read_text(encoding="utf-8").strip()


def plain_values(clinics: list[dict], read_secret) -> dict:
    """{vault variable: {clinic code: secret}} for every clinic that has the secret."""
    return {name: {clinic["code"]: read_secret(clinic[key]) for clinic in clinics if key in clinic}
            for name, (key, _variable) in CLINIC_SECRETS.items()}


def clinic_secrets(state: Path, code: str) -> dict:
    """{clinic variable: secret} of one clinic, as the playbooks see them (clinic_db_password...)."""
    values = decrypt(state)
    return {variable: values[name][code] for name, (_key, variable) in CLINIC_SECRETS.items() if code in values.get(name, {})}


def decrypt(state: Path) -> dict:
    """The vault's values in plain text (for the lab's own checks and tests)."""
    vault = _vault_lib(ensure_password(state))
    stored = json.loads(values_file(state).read_text(encoding="utf-8"))
    return {name: {code: vault.decrypt(value["__ansible_vault"]).decode("utf-8") for code, value in per_clinic.items()}
            for name, per_clinic in stored.items()}


def write(state: Path, values: dict) -> bool:
    """Encrypt ``values`` into <state>/vault.json (0600); False when it already holds them."""
    path = values_file(state)
    if path.exists():
        from ansible.errors import AnsibleError

        try:
            if decrypt(state) == values:
                return False
        except (AnsibleError, ValueError, KeyError, TypeError):
            pass  # unreadable, or from another password: written anew below
    vault = _vault_lib(ensure_password(state))
    encrypted = {name: {code: {"__ansible_vault": vault.encrypt(secret).decode("ascii")}
                        for code, secret in per_clinic.items()}
                 for name, per_clinic in values.items()}
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(encrypted, handle, indent=2, sort_keys=True)
    os.replace(partial, path)
    return True
