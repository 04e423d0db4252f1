#!/usr/bin/env bash
# Run the suite's stages (make targets) in order, time each one, and print where the time went:
# a table of stages, then the slowest tests of the pytest stages (from their JUnit XML reports).
#
#   bash scripts/suite.sh deps venv unit integration ...   (what `make test` runs)
#
# Like make, it stops at the first stage that fails (KEEP_GOING=1 runs the rest anyway); the
# table is printed either way, and the exit status is non-zero when any stage failed.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1
make=${MAKE:-make}
reports=${REPORTS:-$repo/reports}
mkdir -p "$reports"
rm -f "$reports"/junit-*.xml  # only this run's tests count

declare -a names=() secs=() results=()
failed=0
suite_start=$(date +%s)
for stage in "$@"; do
  if [ $failed -ne 0 ] && [ "${KEEP_GOING:-0}" != 1 ]; then
    names+=("$stage") secs+=("-") results+=("not run")
    continue
  fi
  echo "=== make $stage"
  start=$(date +%s)
  "$make" --no-print-directory "$stage"
  rc=$?
  names+=("$stage") secs+=($(( $(date +%s) - start )))
  if [ $rc -eq 0 ]; then results+=("ok"); else results+=("FAILED (exit $rc)"); failed=1; fi
done

echo
echo "=== where the time went"
printf '%-16s %9s  %s\n' stage seconds result
for i in "${!names[@]}"; do
  printf '%-16s %9s  %s\n' "${names[$i]}" "${secs[$i]}" "${results[$i]}"
done
printf '%-16s %9s\n' total $(( $(date +%s) - suite_start ))
shopt -s nullglob
junit=("$reports"/junit-*.xml)
if [ ${#junit[@]} -gt 0 ]; then
  echo
  python3 "$repo/scripts/slowest.py" --top "${SLOWEST:-15}" "${junit[@]}" || true
fi
exit $failed
