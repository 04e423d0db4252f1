#!/usr/bin/env bash
# Install the Debian packages the lab needs (`demo`) or the lab, the tests and Molecule need
# (`test`, the default). As root it installs what is missing; otherwise it names exactly what to
# install and stops.
#
#   bash scripts/install-deps.sh [demo|test]
set -euo pipefail

# openssh-server and sudo: the lab's clinics are hosts reached over SSH, with sudo rules (no standing sshd is started).
# podman and runc: the lab's container clinic (lub) runs on a podman Docker API of the lab's own.
demo_packages=(python3-venv redis-server postgresql nginx openssh-server sudo podman runc git make)
test_packages=(openssl rsync shellcheck debootstrap)
case "${1:-test}" in
  demo) packages=("${demo_packages[@]}") ;;
  test) packages=("${demo_packages[@]}" "${test_packages[@]}") ;;
  *) echo "usage: $0 [demo|test]" >&2; exit 2 ;;
esac

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Missing Debian packages: ${missing[*]}" >&2
    echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Packages such as postgresql, nginx and openssh-server would start a standing server through their init scripts; the lab
  # and the tests start their own on free ports, so keep packages from starting services.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Podman on these machines needs runc and modest ulimits (crun fails on cgroups here).
if [ "$(id -u)" -eq 0 ] && command -v podman >/dev/null && [ ! -f /etc/containers/containers.conf ]; then
  mkdir -p /etc/containers
  cat > /etc/containers/containers.conf <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"
CONF
fi
echo "System packages: ok"
