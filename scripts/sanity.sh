#!/usr/bin/env bash
# Run ansible-test sanity on a copy of the collection laid out as ansible-test wants it
# (.../ansible_collections/medops/runbook), built from the files git tracks.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$repo/.venv}
# A private copy per run, so two runs at once do not delete each other's tree.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/medops-sanity.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
work=$scratch/ansible_collections/medops/runbook

# ansible-test bootstraps pip in each of its virtualenvs with a script it downloads; serve it
# from the stand-in instead, for every pip version this ansible-test may ask for.
cache=~/.ansible/test/cache
mkdir -p "$cache"
grep -ho "pip='[0-9.]*'" "$venv"/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py \
  | grep -o '[0-9][0-9.]*' | while read -r version; do
  cp "$repo/scripts/get_pip_standin.py" "$cache/get_pip_${version//./_}.py"
done

mkdir -p "$work"
cd "$repo"
git ls-files -z --cached --others --exclude-standard | grep -zv '^\.collections/' | xargs -0 -I{} cp --parents -P {} "$work"/ 2>/dev/null || true
cd "$work"
git init -q . && git add -A >/dev/null 2>&1
"$venv/bin/ansible-test" sanity --venv --python 3.11 --color no "$@"
