#!/bin/sh
# Ansible runs this script directly. The sh line below finds a Python 3 (Debian has no `python`
# unless python-is-python3 is installed) and hands it this file; Python reads it as a string.
''''command -v python3 >/dev/null && exec python3 "$0" "$@"; exec python "$0" "$@" # '''
#
# Dynamic inventory of the running lab: ``lab_inventory.py --list`` / ``--host NAME``.
#
# Reads ``<state>/lab.json`` (state: $MEDOPS_LAB_STATE, else lab/state in this checkout) and the
# lab's vault, ``<state>/vault.json`` (values still encrypted; lab/medops_lab/vault.py). Groups:
# ``clinics`` with one child group per clinic (``clinic_kin``...), one host per clinic (``kin``...),
# reached over SSH as the clinic's own account on the lab's sshd (strict host key checking against
# the lab's known_hosts); ``clinics_canary`` holds the first clinic's group, as production's does.
# When no lab is up it says so on stderr and prints an empty inventory, so ansible-playbook still
# runs (against localhost).
# Standard library only, Python 3.8+.

import json
import os
import shlex
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def state_dir():
    return os.path.abspath(os.environ.get("MEDOPS_LAB_STATE") or os.path.join(REPO, "lab", "state"))


def connection_vars(lab, clinic):
    """SSH to the lab's sshd as the clinic's deploy account, like production's ``ansible_user: deploy``."""
    ssh = lab["ssh"]
    return {
        "ansible_connection": "ssh",
        "ansible_host": ssh["host"],
        "ansible_port": ssh["port"],
        "ansible_user": clinic["account"],
        "ansible_ssh_private_key_file": ssh["client_key"],
        "ansible_ssh_common_args": " ".join(["-o", "UserKnownHostsFile=" + shlex.quote(ssh["known_hosts"]),
                                             "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes"]),
        "ansible_python_interpreter": lab["host_python"],
    }


def sudo(lab, *args):
    """A command the deploy account runs as root: the lab's sudo rules allow exactly these."""
    return ["sudo", "-n", lab["ctl"], *args]


def host_vars(lab, clinic):
    base = clinic["base_url"]
    hostvars = {
        **connection_vars(lab, clinic),
        "clinic_code": clinic["code"],
        "clinic_name": clinic["name"],
        "clinic_timezone": clinic["timezone"],
        "clinic_environment": lab["environment"],
        "clinic_db_host": lab["postgres"]["host"],
        "clinic_db_port": lab["postgres"]["port"],
        "clinic_db_name": clinic["db_name"],
        "clinic_db_user": clinic["db_user"],
        # Least-privilege logins (none a superuser): the backup role dumps, the restore role restores
        # (rollback, restore checks) and runs the maintenance window; the provisioning role makes
        # them (playbooks/db_roles.yml). Their passwords are in the lab's vault (group_vars/clinics.yml).
        "clinic_db_backup_user": clinic["db_backup_user"],
        "clinic_db_restore_user": clinic["db_restore_user"],
        "clinic_db_provisioner_user": lab["postgres"]["provisioner"],
        "clinic_redis_host": lab["redis"]["host"],
        "clinic_redis_port": lab["redis"]["port"],
        "clinic_redis_db": clinic["redis_db"],
        "clinic_queue_prefix": clinic["queue_prefix"],
        "clinic_queues": [clinic["queue"]],
        "clinic_base_url": base,
        "clinic_health_urls": {"live": base + "/health/live", "ready": base + "/health/ready",
                               "health": base + "/health", "db": base + "/health/db"},
        "clinic_app_root": clinic["app_root"],
        "clinic_backup_dir": clinic["backup_dir"],
        "clinic_flags_file": clinic["flags_file"],
        # The service reads its flags from that file on every request (no restart) and counts its
        # answers on /metrics: where flag_rollout.yml sets a flag and judges each step.
        "clinic_flag_backend": "envfile",
        "clinic_flag_store": {"path": clinic["flags_file"]},
        "clinic_metrics_url": base + "/metrics",
        "clinic_restart_command": sudo(lab, "restart", clinic["code"]),
        "clinic_migrate_command": [lab["host_python"], "-m", "clinic_service", "migrate", "--config", clinic["config"]],
        # The lab serves its release tarballs (and their .sha256) over HTTP, as an artifact store
        # would: each host downloads its release, checksum checked. Templated when the deploy runs.
        "deploy_artifact_url": lab["artifacts"]["url"] + "/clinic-service-{{ deploy_version }}.tar.gz",
    }
    if "backup_host" in lab:
        hostvars.update(backup_host_vars(lab, clinic))
    if "slots" in clinic:
        hostvars.update(blue_green_vars(lab, clinic))
    if clinic.get("strategy") == "container":
        hostvars.update(container_vars(lab, clinic))
    return hostvars


def backup_host_vars(lab, clinic):
    """The off-host copies' backup host: the lab's backup account, reached with the clinic's own key."""
    ssh, home = lab["ssh"], clinic["home"]
    return {
        "clinic_backup_ssh_host": ssh["host"],
        "clinic_backup_ssh_port": ssh["port"],
        "clinic_backup_ssh_user": lab["backup_host"]["account"],
        "clinic_backup_ssh_key_file": os.path.join(home, ".ssh", "backup_ed25519"),
        "clinic_backup_ssh_known_hosts_file": os.path.join(home, ".ssh", "known_hosts_backup"),
        "clinic_backup_ssh_dir": os.path.join(lab["backup_host"]["dir"], clinic["code"]),
    }


def front_vars(lab, clinic):
    """The clinic's own nginx front (clinic_base_url and the health URLs above are its address)."""
    code = clinic["code"]
    return {
        "clinic_front_upstream_file": clinic["front"]["upstream_file"],
        "clinic_front_check_command": sudo(lab, "front-check", code),
        "clinic_front_reload_command": sudo(lab, "front-reload", code),
    }


def blue_green_vars(lab, clinic):
    """A blue_green clinic (gom in the production layout): two slots behind its own nginx front."""
    code = clinic["code"]
    return {
        **front_vars(lab, clinic),
        "deploy_strategy": "blue_green",
        "clinic_slot_ports": clinic["slots"],
        # The deploy role sets deploy_slot to the slot it works on before it runs these.
        "clinic_slot_restart_command": sudo(lab, "slot-restart", code, "{{ deploy_slot }}"),
        "clinic_slot_stop_command": sudo(lab, "slot-stop", code, "{{ deploy_slot }}"),
    }


def container_vars(lab, clinic):
    """A container clinic (lub in the production layout): its versions as containers on the lab's
    podman Docker API (its socket open to this clinic's account only), behind its own nginx front."""
    container = clinic.get("container", {})
    return {
        **front_vars(lab, clinic),
        "deploy_strategy": "container",
        "clinic_container_image": container.get("image", ""),
        "clinic_container_ports": clinic["container_ports"],
        "deploy_container_docker_host": "unix://" + lab["podman"]["socket"],
        # The lab builds its images locally: there is no registry to log in to.
        "deploy_container_registry_username": "",
        "deploy_container_registry_password": "",
        "deploy_container_volumes": container.get("volumes", []),
        "deploy_container_env": container.get("env", {}),
        # The migrations run in a one-off container of the new image, as root (production: sudo podman run).
        "clinic_migrate_command": sudo(lab, "container-migrate", clinic["code"], "{{ deploy_version }}"),
    }


def vault_vars(state):
    """The lab's vault (lab/medops_lab/vault.py): production's vault variable names, each value still
    vault-encrypted in the JSON form Ansible decodes; group_vars/clinics.yml reads them as production does."""
    path = os.path.join(state, "vault.json")
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        sys.stderr.write("lab inventory: no vault at %s (run `make lab-up` again); clinic secrets are undefined\n" % path)
        return {}


def inventory():
    path = os.path.join(state_dir(), "lab.json")
    empty = {"_meta": {"hostvars": {}}, "clinics": {"hosts": [], "children": []}}
    try:
        with open(path, encoding="utf-8") as handle:
            lab = json.load(handle)
        hostvars = {clinic["code"]: host_vars(lab, clinic) for clinic in lab["clinics"]}
    except FileNotFoundError:
        sys.stderr.write("lab inventory: no lab at %s (run `make lab-up` or set MEDOPS_LAB_STATE); "
                         "inventory is empty\n" % state_dir())
        return empty
    except (OSError, ValueError, KeyError, TypeError) as exc:
        sys.stderr.write("lab inventory: cannot read the lab at %s (%s: %s); inventory is empty\n"
                         % (state_dir(), type(exc).__name__, exc))
        return empty
    result = {"_meta": {"hostvars": hostvars},
              "all": {"children": ["clinics", "clinics_canary"], "vars": vault_vars(lab["state_dir"])},
              "clinics": {"children": ["clinic_" + code for code in hostvars]},
              # The clinic(s) the AWX rollout workflow deploys first, alone (awx/README.md).
              "clinics_canary": {"children": ["clinic_" + code for code in list(hostvars)[:1]]}}
    for code in hostvars:
        result["clinic_" + code] = {"hosts": [code]}
    return result


def main(argv):
    if len(argv) == 2 and argv[1] == "--list":
        data = inventory()
    elif len(argv) == 3 and argv[1] == "--host":
        data = inventory()["_meta"]["hostvars"].get(argv[2], {})
    else:
        sys.stderr.write("usage: %s --list | --host NAME\n" % os.path.basename(argv[0]))
        return 2
    json.dump(data, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
