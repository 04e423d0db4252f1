#!/usr/bin/env bash
# Prove the built collection is a clean, working package: no test output, lab state or
# virtualenv inside; it installs into a collections path; its modules and playbooks are found there.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${1:-$repo/.venv}
version=$(awk '/^version:/ {print $2}' "$repo/galaxy.yml")
tarball=$repo/build/medops-runbook-$version.tar.gz
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The second pattern: examples and tooling stay in the repository (galaxy.yml's build_ignore).
forbidden=$(tar -tzf "$tarball" | grep -E \
  -e '(^|/)(tests/output|lab/state|\.venv|\.collections|build|__pycache__)(/|$)' \
  -e '^(tests|lab|bench|inventories|awx|molecule|scripts|collections|reports|changelogs/fragments)(/|$)' || true)
if [ -n "$forbidden" ]; then
  echo "The collection tarball holds files that must not ship:" >&2
  echo "$forbidden" | head -20 >&2
  exit 1
fi

# Only the scratch path: the checkout's own copy must not be what answers below.
touch "$scratch/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH=$scratch ANSIBLE_CONFIG=$scratch/ansible.cfg
"$venv/bin/ansible-galaxy" collection install --offline -p "$scratch" "$tarball" >/dev/null
installed=$("$venv/bin/ansible-galaxy" collection list medops.runbook 2>/dev/null | grep -c 'medops.runbook' || true)
[ "$installed" -ge 1 ] || { echo "medops.runbook is not listed after install" >&2; exit 1; }
modules=$("$venv/bin/ansible-doc" -t module -l medops.runbook 2>/dev/null | awk '{print $1}')
for path in "$repo"/plugins/modules/*.py; do
  module=$(basename "$path" .py)
  echo "$modules" | grep -qx "medops.runbook.$module" || { echo "ansible-doc does not list medops.runbook.$module from the installed tarball" >&2; exit 1; }
done
# A collection playbook runs by its FQCN from the installed copy (syntax and name resolution).
"$venv/bin/ansible-playbook" --syntax-check -i localhost, medops.runbook.health_check >/dev/null
echo "Installed from $(basename "$tarball"): $(echo "$modules" | grep -c . || true) module(s) listed; medops.runbook.health_check resolves."
