#!/usr/bin/env bash
# Run the suite's stages (make targets), time each one, and print where the time went: a table
# of stages, then the slowest tests of the pytest stages (from their JUnit XML reports).
#
#   bash scripts/suite.sh deps venv unit integration ...     (what `make test` runs)
#   bash scripts/suite.sh unit lint+sanity                  (lint and sanity side by side)
#
# Stages joined by '+' form a group that runs side by side: this machine has two cores and most
# stages keep only one of them busy (one ansible-playbook at a time). Each member's output goes to
# reports/STAGE.log and is printed, whole, once the group is over; the table shows each member's
# own time and the group's wall time. Like make, the suite stops after the first group with a
# failed stage (KEEP_GOING=1 runs the rest anyway); the table is printed either way, and the exit
# status is non-zero when any stage failed.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1
make=${MAKE:-make}
reports=${REPORTS:-$repo/reports}
mkdir -p "$reports"
rm -f "$reports"/junit-*.xml  # only this run's tests count

declare -a names=() secs=() results=()
failed=0

record() {  # record NAME SECONDS EXIT_STATUS
  names+=("$1") secs+=("$2")
  if [ "$3" -eq 0 ]; then results+=("ok"); else results+=("FAILED (exit $3)"); failed=1; fi
}

run_alone() {
  local stage=$1 start rc
  echo "=== make $stage"
  start=$(date +%s)
  "$make" --no-print-directory "$stage"
  rc=$?
  record "$stage" $(( $(date +%s) - start )) $rc
}

run_group() {  # members side by side; each one's output printed when the group is over
  local -a members pids starts
  local i rc start
  IFS=+ read -r -a members <<<"$1"
  echo "=== make ${members[*]} (side by side; each one's output follows when all are done)"
  start=$(date +%s)
  for i in "${!members[@]}"; do
    starts[i]=$(date +%s)
    ( "$make" --no-print-directory "${members[$i]}" >"$reports/${members[$i]}.log" 2>&1
      rc=$?; echo "$(( $(date +%s) - starts[i] )) $rc" >"$reports/${members[$i]}.status" ) &
    pids[i]=$!
  done
  for i in "${!members[@]}"; do wait "${pids[$i]}"; done
  for i in "${!members[@]}"; do
    echo "=== make ${members[$i]} (output)"
    cat "$reports/${members[$i]}.log"
    read -r secs_i rc <"$reports/${members[$i]}.status" || { secs_i=-; rc=1; }
    record "${members[$i]}" "$secs_i" "$rc"
  done
  record "  (group wall)" $(( $(date +%s) - start )) 0
}

suite_start=$(date +%s)
for stage in "$@"; do
  if [ $failed -ne 0 ] && [ "${KEEP_GOING:-0}" != 1 ]; then
    names+=("$stage") secs+=("-") results+=("not run")
    continue
  fi
  case $stage in
    *+*) run_group "$stage" ;;
    *) run_alone "$stage" ;;
  esac
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
