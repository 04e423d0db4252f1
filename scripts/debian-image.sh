#!/usr/bin/env bash
# Build a local Debian image with debootstrap and import it into podman (no registry is reachable
# here, so nothing can be pulled). Shared by Molecule's target image and the newcomer test.
#
#   bash scripts/debian-image.sh IMAGE SUITE PACKAGES [PIP_REQUIREMENT]      (root)
#
#   PACKAGES         comma-separated Debian packages on top of debootstrap's minbase
#   PIP_REQUIREMENT  a PyPI requirement vendored under /usr/local (the suite must run the same
#                    Python minor as the project's virtualenv, whose pip installs it)
#
# Cached: the image carries a label with the hash of this script and its arguments; when an image
# with the same hash exists nothing is rebuilt. MEDOPS_DEBIAN_MIRROR overrides debootstrap's
# default mirror, MEDOPS_REBUILD_IMAGE=1 forces a rebuild.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 IMAGE SUITE PACKAGES [PIP_REQUIREMENT]" >&2; exit 2; }
image=$1 suite=$2 packages=$3 pip_requirement=${4:-}
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$repo/.venv}

build_id=$( { cat "$0"; echo "$suite $packages $pip_requirement"; } | sha256sum | cut -c1-16)
# One build of an image at a time: stages and test workers that run side by side may all ask for
# it; the second waits for the first and then finds the image up to date.
exec 9>"${TMPDIR:-/tmp}/medops-image-$(printf %s "$image" | tr -c 'A-Za-z0-9.-' '_').lock"
flock 9
current=$(podman image inspect --format '{{ index .Labels "medops.build" }}' "$image" 2>/dev/null || true)
if [ "$current" = "$build_id" ] && [ "${MEDOPS_REBUILD_IMAGE:-0}" != 1 ]; then
  echo "$image is up to date (build $build_id)"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || { echo "debootstrap needs root: sudo bash $0 $*" >&2; exit 1; }
for tool in debootstrap podman; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: apt-get install -y podman runc debootstrap" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rootfs=$work/rootfs
start=$(date +%s)
# shellcheck disable=SC2086  # the mirror is optional
debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" ${MEDOPS_DEBIAN_MIRROR:-} >"$work/debootstrap.log" 2>&1 \
  || { tail -30 "$work/debootstrap.log" >&2; exit 1; }

if [ -n "$pip_requirement" ]; then
  # Installed under /usr/local, which Debian's python3 searches before its own packages; the
  # host's pip builds for its own Python, so the image's minor version must match it.
  site=$rootfs/usr/local/lib/python$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')/dist-packages
  "$venv/bin/python" -m pip install --quiet --no-compile --disable-pip-version-check \
    --target "$site" "$pip_requirement" >"$work/pip.log" 2>&1 \
    || { tail -30 "$work/pip.log" >&2; exit 1; }
fi

# Smaller image: apt's downloaded packages are not needed (its lists go too; apt-get update refetches them).
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

tar -C "$rootfs" -c . | podman import --quiet --change "LABEL medops.build=$build_id" \
  --change 'CMD ["sleep", "infinity"]' - "$image" >/dev/null
echo "$image built in $(( $(date +%s) - start )) s (build $build_id)"
