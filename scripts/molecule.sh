#!/usr/bin/env bash
# Run the Molecule scenarios on podman containers against a lab started for the run:
#   bash scripts/molecule.sh [scenario ...]        (default: every molecule/<role>/ scenario)
# The containers share the host's network, so the roles' modules, running inside them with the
# container's python3, reach the lab's PostgreSQL, Redis and clinic service on loopback.
# Needs root (podman, debootstrap for the first image build) and `make deps venv`.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$repo/.venv}
cd "$repo"

bash scripts/build-target-image.sh

scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
  # Simplest first; a scenario exists once its role does.
  for name in maintenance health_check flag_rollout deploy rollback backup_verify; do
    [ -f "molecule/$name/molecule.yml" ] && scenarios+=("$name")
  done
fi

state=$(mktemp -d "${TMPDIR:-/tmp}/medops-molecule-lab.XXXXXX")
chmod 755 "$state"   # PostgreSQL runs as the postgres account
lab() { PYTHONPATH="$repo/lab" "$venv/bin/python" -m medops_lab --state "$state" "$@"; }
trap 'lab down --purge >/dev/null 2>&1 || true' EXIT
lab artifacts >/dev/null
lab up --clinics 1 --layout release >/dev/null

# The lab clinic's variables for the scenarios (connection settings stay the container's own).
export MEDOPS_LAB_STATE=$state
export MEDOPS_MOLECULE_CLINIC_VARS=$state/molecule-clinic.json
"$venv/bin/python" - "$MEDOPS_MOLECULE_CLINIC_VARS" <<'PY'
import json, os, socket, subprocess, sys
out = subprocess.run([os.path.join("inventories", "lab", "lab_inventory.py"), "--host", "kin"],
                     check=True, capture_output=True, text=True).stdout
clinic = {k: v for k, v in json.loads(out).items() if not k.startswith("ansible_")}
# The lab's vault, decrypted into this 0600 file: the scenarios' playbooks run without the lab's
# vault password, and read the clinic's secrets under the vault names as every inventory does.
sys.path.insert(0, "lab")
from medops_lab import vault
clinic.update({name: {"kin": values["kin"]} for name, values in vault.decrypt(os.environ["MEDOPS_LAB_STATE"]).items()})
# The lab's release tarballs and its artifact server, where the deploy scenarios download their release.
with open(os.path.join(os.environ["MEDOPS_LAB_STATE"], "lab.json"), encoding="utf-8") as handle:
    lab_info = json.load(handle)
clinic["medops_molecule_artifacts_dir"] = lab_info["artifacts_dir"]
clinic["medops_molecule_artifacts_url"] = lab_info["artifacts"]["url"]
# A free loopback port for the clinic service the deploy scenarios run inside their container.
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    clinic["medops_molecule_service_port"] = probe.getsockname()[1]
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as handle:
    json.dump(clinic, handle)
PY

export PATH=$venv/bin:$PATH ANSIBLE_COLLECTIONS_PATH=$repo/.collections NO_COLOR=1 ANSIBLE_NOCOLOR=1
status=0
summary=()
for scenario in "${scenarios[@]}"; do
  start=$(date +%s)
  if molecule test -s "$scenario"; then result=passed; else result=FAILED; status=1; fi
  summary+=("$(printf '%-14s %-7s %4d s' "$scenario" "$result" $(( $(date +%s) - start )))")
done
printf '\nMolecule scenarios:\n'
printf '  %s\n' "${summary[@]}"
exit $status
