#!/usr/bin/env bash
# Check the oldest ansible-core that meta/runtime.yml claims (requires_ansible), in a throwaway
# virtualenv: the unit tests, one real lab deploy (playbooks/deploy.yml on a lab of its own, in a
# temporary state directory, on free loopback ports) and ansible-test sanity.
#
#   bash scripts/ansible-range.sh            # 2.16 (ANSIBLE_CORE=2.16.* by default)
#   ANSIBLE_CORE='2.17.*' bash scripts/ansible-range.sh
#   KEEP_VENV=DIR bash scripts/ansible-range.sh   # reuse (or create) the virtualenv in DIR
#   KEEP_VENV=DIR bash scripts/ansible-range.sh --venv-only   # only make that virtualenv (bench/fleet_deploy.py --cores)
#
# ansible-lint and molecule are not installed there: their pinned versions need a newer
# ansible-core. Each step is timed; the script fails if any step fails, after running them all.
# shellcheck disable=SC2317  # the step functions are called through step
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1
core=${ANSIBLE_CORE:-2.16.*}
venv_only=false
if [ "${1:-}" = --venv-only ]; then
  venv_only=true
  [ -n "${KEEP_VENV:-}" ] || { echo "--venv-only needs KEEP_VENV=DIR (the virtualenv to keep)" >&2; exit 2; }
fi
python=${PYTHON:-python3}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/medops-range.XXXXXX")
venv=${KEEP_VENV:-$scratch/venv}
state=$scratch/lab
cleanup() {
  [ -d "$state" ] && PYTHONPATH="$repo/lab" "$venv/bin/python" -m medops_lab --state "$state" down --purge >/dev/null 2>&1
  rm -rf "$scratch"
}
trap cleanup EXIT

declare -a names=() secs=() results=()
failed=0
step() {  # step NAME COMMAND...: run, time and record one step
  local name=$1 start rc
  shift
  echo "== $name"
  start=$(date +%s)
  "$@"
  rc=$?
  names+=("$name") secs+=($(( $(date +%s) - start ))) results+=("$([ $rc -eq 0 ] && echo ok || echo "FAILED ($rc)")")
  [ $rc -eq 0 ] || failed=1
  return 0
}

make_venv() {
  test -x "$venv/bin/python" || "$python" -m venv "$venv" || return 1
  "$venv/bin/python" -m pip install -q --upgrade pip || return 1
  # The project's own pins, with ansible-core swapped for the version under test.
  local pins
  mapfile -t pins < <(grep -E '^(pytest|pytest-timeout|bullmq)==' requirements-dev.txt)
  "$venv/bin/python" -m pip install -q "ansible-core==$core" -r requirements.txt "${pins[@]}" || return 1
  # Not piped into head: ansible fails with a broken pipe when its reader leaves early.
  "$venv/bin/ansible" --version >"$scratch/ansible-version" || return 1
  head -1 "$scratch/ansible-version"
}

unit() {
  PYTHONPATH="$repo/lab" "$venv/bin/pytest" -q -p no:cacheprovider tests/unit
}

deploy() (  # a subshell: the exports stay in it
  export PYTHONPATH="$repo/lab" ANSIBLE_CONFIG="$repo/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$repo/.collections"
  export MEDOPS_LAB_STATE="$state" PATH="$venv/bin:$PATH"
  mkdir -p "$state" && chmod 755 "$scratch" "$state"  # PostgreSQL runs as postgres when run as root
  "$venv/bin/python" -m medops_lab --state "$state" up || return 1
  "$venv/bin/ansible-playbook" playbooks/deploy.yml -i inventories/lab -e deploy_version=1.1.0 || return 1
  "$venv/bin/ansible-playbook" playbooks/health_check.yml -i inventories/lab || return 1
  "$venv/bin/python" -m medops_lab --state "$state" status
)

sanity() {
  # A home of its own: ansible-test keeps its sanity virtualenvs and pip bootstrap under ~/.ansible,
  # keyed by requirements that may be the same as the project's own ansible-test's, and `make test`
  # runs this stage beside `make sanity`. It is kept between runs, as ~/.ansible is.
  local home=${MEDOPS_RANGE_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/medops-ansible-range}
  mkdir -p "$home"
  HOME=$home PIP_CACHE_DIR=${PIP_CACHE_DIR:-$home/pip} VENV="$venv" bash scripts/sanity.sh
}

step "virtualenv (ansible-core $core)" make_venv
if [ "${results[0]}" = ok ] && ! $venv_only; then
  step unit unit
  step "lab deploy 1.1.0" deploy
  step "ansible-test sanity" sanity
fi

echo
printf '%-34s %8s  %s\n' step seconds result
for i in "${!names[@]}"; do
  printf '%-34s %8s  %s\n' "${names[$i]}" "${secs[$i]}" "${results[$i]}"
done
exit $failed
