"""The collection as it ships: execution environment build context, tarball, project-sync requirements.

ansible-builder and ansible-galaxy run as users run them; scripts/install-check.sh (also `make
install-check`) proves the tarball installs and its playbooks resolve by FQCN.
"""

from __future__ import annotations

import re
import subprocess
import tarfile

import pytest
import yaml

from harness.ansible import BIN, REPO


def _run(*cmd, cwd=REPO, env=None, timeout=300):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _pinned(requirements: str, name: str) -> str:
    match = re.search(rf"^{re.escape(name)}==(\S+)$", (REPO / requirements).read_text(encoding="utf-8"), re.M)
    assert match, f"{name} is not pinned in {requirements}"
    return match.group(1)


def _clean_env(tmp_path) -> dict:
    """No ansible.cfg and no checkout collections: only what the command installs can answer."""
    import os

    config = tmp_path / "ansible.cfg"
    config.write_text("")
    return {**os.environ, "ANSIBLE_CONFIG": str(config), "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections")}


# -- execution environment --------------------------------------------------------------------

@pytest.fixture(scope="module")
def ee_context(tmp_path_factory):
    context = tmp_path_factory.mktemp("ee-context")
    _run(BIN / "ansible-builder", "create", "--file", "execution-environment.yml", "--context", context)
    return context


def test_builder_writes_a_containerfile_with_the_pinned_ansible(ee_context):
    containerfile = (ee_context / "Containerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM \$EE_BASE_IMAGE AS base$", containerfile, re.M)
    # The EE runs the same ansible-core and ansible-runner the tests run.
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"', containerfile, re.M).group(1).split()
    assert f"ansible-core=={_pinned('requirements-dev.txt', 'ansible-core')}" in refs
    assert f"ansible-runner=={_pinned('requirements-dev.txt', 'ansible-runner')}" in refs
    assert re.search(r'^ARG PYCMD="/usr/bin/python3\.1[1-9]"', containerfile, re.M), "ansible-core 2.19 needs Python 3.11+"
    # Python and system dependencies are introspected and installed in the final image.
    assert "--user-pip=requirements.txt --user-bindep=bindep.txt" in containerfile
    assert "RUN /output/scripts/install-from-bindep" in containerfile


def test_builder_copies_the_collections_requirements(ee_context):
    build = ee_context / "_build"
    assert (build / "requirements.txt").read_text(encoding="utf-8") == (REPO / "requirements.txt").read_text(encoding="utf-8")
    assert (build / "bindep.txt").read_text(encoding="utf-8") == (REPO / "bindep.txt").read_text(encoding="utf-8")
    pip = (build / "requirements.txt").read_text(encoding="utf-8")
    for lib in ("requests", "psycopg2-binary", "redis"):
        assert re.search(rf"^{lib}==", pip, re.M), lib


def test_bindep_names_the_database_clients_for_debian_and_el():
    lines = [line.split("#")[0].strip() for line in (REPO / "bindep.txt").read_text(encoding="utf-8").splitlines()]
    entries = {}
    for line in filter(None, lines):
        name, profiles = line.partition(" ")[::2]
        entries.setdefault(name, []).append(profiles.strip())
    assert entries["postgresql-client"] == ["[platform:dpkg]"] and entries["postgresql"] == ["[platform:rpm]"]
    assert entries["redis-tools"] == ["[platform:dpkg]"] and entries["redis"] == ["[platform:rpm]"]


def test_collection_declares_its_dependencies_to_ansible_builder():
    meta = yaml.safe_load((REPO / "meta" / "execution-environment.yml").read_text(encoding="utf-8"))
    assert meta["version"] == 1
    for kind in ("python", "system"):
        assert (REPO / meta["dependencies"][kind]).is_file(), meta["dependencies"][kind]


# -- the tarball ------------------------------------------------------------------------------

def test_tarball_ships_only_source_files_and_installs(tmp_path):
    _run(BIN / "ansible-galaxy", "collection", "build", "--force", "--output-path", "build", ".")
    version = yaml.safe_load((REPO / "galaxy.yml").read_text(encoding="utf-8"))["version"]
    tarball = REPO / "build" / f"medops-runbook-{version}.tar.gz"
    with tarfile.open(tarball) as archive:
        members = [m.name for m in archive.getmembers() if m.isfile()]
    # Everything shipped is a file git tracks or would track: no test output, lab state, virtualenv,
    # reports, caches or Molecule leftovers (all git-ignored or never written into the checkout).
    source = set(_run("git", "ls-files", "--cached", "--others", "--exclude-standard").stdout.splitlines())
    generated = {"MANIFEST.json", "FILES.json"}
    strays = sorted(set(members) - source - generated)
    assert not strays, f"the tarball holds files that are not source: {strays[:20]}"
    assert "playbooks/health_check.yml" in members
    # What an installed collection needs ships (requirements.txt and bindep.txt for ansible-builder,
    # changelogs/changelog.yaml for the docsite); examples and tooling stay in the repository.
    for needed in ("roles/health_check/meta/argument_specs.yml", "plugins/modules/release_info.py", "meta/runtime.yml",
                   "meta/execution-environment.yml", "requirements.txt", "bindep.txt", "README.md", "CHANGELOG.md",
                   "COPYING", "changelogs/changelog.yaml"):
        assert needed in members, needed
    assert not any(m.startswith(("lab/", "bench/", "tests/", ".venv/", "inventories/", "awx/", "molecule/",
                                 "scripts/", "collections/", "changelogs/fragments/", "reports/")) for m in members)
    # The install check: installs offline into a scratch path, every module listed by ansible-doc,
    # `ansible-playbook medops.runbook.health_check --syntax-check` from the installed copy.
    proc = _run("bash", REPO / "scripts" / "install-check.sh", BIN.parent)
    assert "medops.runbook.health_check resolves" in proc.stdout


def test_project_sync_requirements_install_this_collection(tmp_path):
    """What AWX runs at a project sync, from the checkout's root, into an empty collections path."""
    requirements = yaml.safe_load((REPO / "collections" / "requirements.yml").read_text(encoding="utf-8"))
    assert [c.get("type") for c in requirements["collections"]] == ["dir"]
    env = _clean_env(tmp_path)
    _run(BIN / "ansible-galaxy", "collection", "install", "-r", "collections/requirements.yml",
         "-p", tmp_path / "collections", env=env)
    installed = tmp_path / "collections" / "ansible_collections" / "medops" / "runbook"
    assert (installed / "playbooks" / "deploy.yml").is_file()
    assert not (installed / "lab").exists() and not (installed / ".venv").exists()
    for playbook in ("health_check", "maintenance"):
        _run(BIN / "ansible-playbook", "--syntax-check", "-i", "localhost,", f"medops.runbook.{playbook}",
             cwd=tmp_path, env=env)
