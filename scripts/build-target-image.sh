#!/usr/bin/env bash
# Build the local Debian image the Molecule scenarios run their containers from
# (no registry is reachable, so nothing can be pulled): debootstrap a minimal bookworm with the
# Python libraries the collection's modules and the lab clinic service import, vendor the PyPI-only
# `bullmq` into it, and import the tree into podman.
#
#   bash scripts/build-target-image.sh [IMAGE]      (default localhost/medops-target:bookworm; root)
#
# Cached: the image carries a label with the hash of this script and the pip requirements it
# vendors; when an image with the same hash exists nothing is rebuilt. MEDOPS_DEBIAN_MIRROR
# overrides debootstrap's default mirror, MEDOPS_REBUILD_IMAGE=1 forces a rebuild.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
image=${1:-localhost/medops-target:bookworm}
venv=${VENV:-$repo/.venv}

# Debian packages: python3 for Ansible; psycopg2/redis for db_maintenance and the service; procps
# for verify steps (pgrep); postgresql-client (pg_dump/pg_restore) for db_backup; ca-certificates for HTTPS probes.
packages=python3,python3-psycopg2,python3-redis,postgresql-client,procps,ca-certificates
# The lab service's worker needs bullmq, which Debian does not package.
bullmq_requirement=$(grep -E '^bullmq==' "$repo/requirements-dev.txt" || echo bullmq)

build_id=$( { cat "$0"; echo "$packages $bullmq_requirement"; } | sha256sum | cut -c1-16)
current=$(podman image inspect --format '{{ index .Labels "medops.build" }}' "$image" 2>/dev/null || true)
if [ "$current" = "$build_id" ] && [ "${MEDOPS_REBUILD_IMAGE:-0}" != 1 ]; then
  echo "$image is up to date (build $build_id)"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || { echo "debootstrap needs root: sudo bash $0" >&2; exit 1; }
for tool in debootstrap podman; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install -y podman runc debootstrap" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
start=$(date +%s)
# shellcheck disable=SC2086  # the mirror is optional
debootstrap --variant=minbase --include="$packages" bookworm "$rootfs" ${MEDOPS_DEBIAN_MIRROR:-} >"$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log" >&2; exit 1; }

# Same Python (3.11) and architecture as the image, so host-built wheels fit. Installed under
# /usr/local, which Debian's python3 searches before its own packages (bullmq wants a newer redis).
"$venv/bin/python" -m pip install --quiet --no-compile --disable-pip-version-check \
  --target "$rootfs/usr/local/lib/python3.11/dist-packages" "$bullmq_requirement" >"$work/pip.log" 2>&1 \
  || { tail -30 "$work/pip.log" >&2; exit 1; }

# Smaller image: apt lists and caches are not needed in a test target.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

tar -C "$rootfs" -c . | podman import --quiet --change "LABEL medops.build=$build_id" \
  --change 'CMD ["sleep", "infinity"]' - "$image" >/dev/null
echo "$image built in $(( $(date +%s) - start )) s (build $build_id)"
