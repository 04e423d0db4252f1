#!/usr/bin/env bash
# Build the local Debian image the Molecule scenarios run their containers from: a minimal
# bookworm with the Python libraries the collection's modules and the lab clinic service import,
# and the PyPI-only `bullmq` vendored into it (scripts/debian-image.sh does the building and caching).
#
#   bash scripts/build-target-image.sh [IMAGE]      (default localhost/medops-target:bookworm; root)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
image=${1:-localhost/medops-target:bookworm}

# Debian packages: python3 for Ansible; psycopg2/redis for db_maintenance and the service; procps
# for verify steps (pgrep); postgresql-client (pg_dump/pg_restore) for db_backup; ca-certificates for HTTPS probes.
packages=python3,python3-psycopg2,python3-redis,postgresql-client,procps,ca-certificates
# The lab service's worker needs bullmq, which Debian does not package.
bullmq_requirement=$(grep -E '^bullmq==' "$repo/requirements-dev.txt" || echo bullmq)

exec bash "$repo/scripts/debian-image.sh" "$image" bookworm "$packages" "$bullmq_requirement"
