"""The lab's clinics as hosts: Ansible reaches each one over SSH as the clinic's own non-root
account, which owns that clinic's files and processes and nothing of the other clinics'."""

from __future__ import annotations

import os
import pwd
import re
import subprocess
from pathlib import Path

import pytest

from harness.ansible import BIN, REPO, ansible_env, run_playbook

pytestmark = pytest.mark.lab
CODES = ["kin", "lub", "gom"]


def adhoc(lab, pattern: str, module: str, args: str, *extra: str) -> subprocess.CompletedProcess:
    """``ansible -i inventories/lab PATTERN -m MODULE -a ARGS``, as an operator would type it."""
    return subprocess.run([str(BIN / "ansible"), "-i", str(lab.inventory), pattern, "-m", module, "-a", args, *extra],
                          cwd=REPO, env=ansible_env(lab.env), capture_output=True, text=True, timeout=300, check=False)


def test_every_clinic_answers_over_ssh_as_its_own_non_root_account(lab):
    run = adhoc(lab, "clinics", "command", "id")
    assert run.returncode == 0, run.stdout + run.stderr
    for code in CODES:
        account = lab.clinic(code)["account"]
        found = re.search(rf"^{code} \| CHANGED \| rc=0 >>\nuid=(\d+)\({re.escape(account)}\)", run.stdout, re.MULTILINE)
        assert found, run.stdout
        assert int(found.group(1)) != 0 and int(found.group(1)) == pwd.getpwnam(account).pw_uid


def test_inventory_connects_over_ssh_with_strict_host_keys(lab):
    for code, hostvars in lab.inventory_list()["_meta"]["hostvars"].items():
        assert hostvars["ansible_connection"] == "ssh" and hostvars["ansible_host"] == "127.0.0.1"
        assert hostvars["ansible_user"] == lab.clinic(code)["account"]
        assert "StrictHostKeyChecking=yes" in hostvars["ansible_ssh_common_args"]
        assert os.stat(hostvars["ansible_ssh_private_key_file"]).st_mode & 0o777 == 0o600
        assert hostvars["clinic_restart_command"][:2] == ["sudo", "-n"]


def test_a_host_key_the_lab_did_not_record_is_refused(lab, tmp_path):
    """StrictHostKeyChecking is real: with a known_hosts that lacks the lab's key, nothing connects."""
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    # A connection of its own: ControlPersist's master from an earlier test would skip the handshake.
    run = adhoc(lab, "kin", "command", "id", "-e", "ansible_ssh_args='-o ControlMaster=no'", "-e",
                f"ansible_ssh_common_args='-o UserKnownHostsFile={empty} -o StrictHostKeyChecking=yes'")
    assert run.returncode != 0
    assert "UNREACHABLE" in run.stdout and "Host key verification failed" in run.stdout + run.stderr


def test_kin_cannot_read_lub_secrets(lab):
    lub = lab.clinic("lub")
    for key in ("db_password_file", "redis_password_file", "api_token_file"):
        run = adhoc(lab, "kin", "ansible.builtin.slurp", f"src={lub[key]}")
        assert run.returncode != 0, f"kin read {lub[key]}"
        assert "Permission denied" in run.stdout + run.stderr, run.stdout
        assert lab.secret(lub[key]) not in run.stdout + run.stderr
    # Its own secrets it reads (the service runs as the same account and needs them).
    own = adhoc(lab, "kin", "ansible.builtin.slurp", f"src={lab.clinic('kin')['api_token_file']}")
    assert own.returncode == 0, own.stdout


def test_sudo_allows_a_clinic_its_own_restart_only(lab):
    ctl = lab.info["ctl"]
    refused = adhoc(lab, "kin", "command", f"sudo -n {ctl} restart lub")
    assert refused.returncode != 0 and "a password is required" in refused.stdout, refused.stdout
    wider = adhoc(lab, "kin", "command", "sudo -n id")
    assert wider.returncode != 0 and "a password is required" in wider.stdout, wider.stdout
    pid = lab.json("status", "--json")["clinics"][0]["pid"]
    own = adhoc(lab, "kin", "command", f"sudo -n {ctl} restart kin")
    assert own.returncode == 0, own.stdout + own.stderr
    assert lab.json("status", "--json")["clinics"][0]["pid"] != pid
    assert lab.get("kin", "/health/ready")[0] == 200


def test_clinic_files_and_processes_belong_to_the_clinic_account(lab):
    for code in CODES:
        clinic = lab.clinic(code)
        user = pwd.getpwnam(clinic["account"])
        home = Path(clinic["home"])
        assert Path("/var/lib/medops-lab") in home.parents and not str(home).startswith(str(lab.state))
        assert (os.stat(home).st_uid, os.stat(home).st_mode & 0o777) == (user.pw_uid, 0o750)
        for key in ("db_password_file", "redis_password_file", "api_token_file"):
            info = os.stat(clinic[key])
            assert (info.st_uid, info.st_mode & 0o777) == (user.pw_uid, 0o600), clinic[key]
        pid = int((Path(clinic["run_dir"]) / "service.pid").read_text().split()[0])
        assert os.stat(f"/proc/{pid}").st_uid == user.pw_uid


def test_a_release_copied_from_the_controller_still_deploys_over_ssh(lab):
    """The lab serves its releases by URL; deploy_artifact_path (a tarball on the controller, which
    the host account cannot read) is copied over SSH instead, its checksum checked on the controller."""
    version = "1.1.0" if lab.version("kin") != "1.1.0" else "1.0.0"
    tarball = Path(lab.info["artifacts_dir"]) / f"clinic-service-{version}.tar.gz"
    run = run_playbook(REPO / "playbooks" / "deploy.yml", "--limit", "kin", inventory=lab.inventory, env=lab.env,
                       extra_vars={"deploy_version": version, "deploy_artifact_path": str(tarball), "deploy_artifact_url": ""})
    assert run.rc == 0, run.output[-4000:]
    assert lab.version("kin") == version and lab.get("kin", "/api/version")[1]["version"] == version
    release = Path(lab.clinic("kin")["app_root"]) / "releases" / version
    assert os.stat(release).st_uid == pwd.getpwnam(lab.clinic("kin")["account"]).pw_uid
