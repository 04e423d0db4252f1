"""The fleet bench's arithmetic and parsing (bench/fleet_stats.py): recap counts, profile_tasks'
summary, serial's batches and the CPU floor."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))

import fleet_stats  # noqa: E402  # bench/ is a directory of scripts, not a package

RUN = """\
PLAY RECAP *********************************************************************
c04                        : ok=99   changed=20   unreachable=0    failed=0    skipped=25   rescued=0    ignored=1
kin                        : ok=104  changed=21   unreachable=0    failed=1    skipped=24   rescued=1    ignored=0
localhost                  : ok=2    changed=0    unreachable=0    failed=0    skipped=0    rescued=0    ignored=0

TASKS RECAP ********************************************************************
Monday 01 December 2025  10:00:16 +0000 (0:00:00.012)       0:00:16.000 *******
===============================================================================
medops.runbook.deploy : Check | wait until healthy, http://127.0.0.1:37807/health/ready --- 2.40s
medops.runbook.deploy : Check | wait until healthy, http://127.0.0.1:41365/health/ready --- 1.10s
medops.runbook.deploy : Ship | unpack into the staging directory ------------------ 11.05s
a name so long that profile_tasks has no room left to pad it with its dashes at all -- 0.95s
"""


def test_recap_counts_per_host_without_localhost():
    hosts = fleet_stats.recap(RUN)
    assert set(hosts) == {"c04", "kin"}
    assert hosts["kin"] == {"ok": 104, "changed": 21, "unreachable": 0, "failed": 1, "skipped": 24, "rescued": 1, "ignored": 0}


def test_tasks_run_adds_failures_and_rescues_to_ok_but_not_changed_or_skipped():
    hosts = fleet_stats.recap(RUN)
    assert fleet_stats.tasks_run(hosts["kin"]) == 104 + 1 + 1
    assert fleet_stats.per_clinic(hosts) == {"tasks": 102.5, "least": 99, "most": 106, "skipped": 24.5}


def test_per_clinic_of_no_recap_is_zero():
    assert fleet_stats.per_clinic({})["tasks"] == 0


def test_costliest_reads_profile_tasks_summary_longest_first_and_adds_up_names_that_differ_by_a_url():
    assert fleet_stats.costliest(RUN, 2) == [
        ("medops.runbook.deploy : Ship | unpack into the staging directory", 11.05),
        ("medops.runbook.deploy : Check | wait until healthy, <url>", 3.5)]
    assert fleet_stats.costliest(RUN)[-1] == ("a name so long that profile_tasks has no room left to pad it with its dashes at all", 0.95)


def test_costliest_without_the_callback_is_empty():
    assert fleet_stats.costliest(RUN.split("TASKS RECAP", maxsplit=1)[0]) == []


@pytest.mark.parametrize(("hosts", "batches"), [
    (1, [1]), (2, [1, 1]), (3, [1, 1, 1]), (4, [1, 1, 2]), (10, [1, 2, 7]), (20, [1, 5, 14]),
])
def test_serial_batches_as_ansible_cuts_them(hosts, batches):
    assert fleet_stats.serial_batches(hosts) == batches


def test_serial_batches_repeat_the_last_step():
    assert fleet_stats.serial_batches(7, (2, 1)) == [2, 1, 1, 1, 1, 1]


def test_cpu_floor_is_the_batches_or_the_cpu_whichever_is_longer():
    assert fleet_stats.cpu_floor(3, 20.0, 60.0, 2) == 60.0  # 3 batches of T(1)
    assert fleet_stats.cpu_floor(20, 20.0, 400.0, 2) == 200.0  # 20 x 20 CPU s over 2 CPUs
    assert fleet_stats.cpu_floor(20, None, 400.0, 2) == 200.0  # no T(1): the CPU term alone


def test_table_escapes_pipes_and_aligns_figures_right():
    assert fleet_stats.table(["task", "s"], [["Ship | unpack", 1.5]]).splitlines() == [
        "| task | s |", "| --- | ---: |", "| Ship \\| unpack | 1.5 |"]
    assert fleet_stats.ratio(3.0, 2.0) == "1.50"
    assert fleet_stats.ratio(1.0, 0.0) == "n/a"


def test_batch_floor_adds_up_batches_that_cannot_overlap():
    # 10 clinics under [1, 25%, 100%]: batches of 1, 2 and 7; 6 CPU s each on 2 CPUs, T(1) = 12 s.
    assert fleet_stats.serial_batches(10) == [1, 2, 7]
    assert fleet_stats.batch_floor(10, 12.0, 6.0, 2) == 12.0 + 12.0 + 21.0
    assert fleet_stats.batch_floor(10, 12.0, 6.0, 2) > fleet_stats.cpu_floor(10, 12.0, 60.0, 2)
    assert fleet_stats.batch_floor(3, 12.0, 6.0, 2) == fleet_stats.cpu_floor(3, 12.0, 18.0, 2) == 36.0
