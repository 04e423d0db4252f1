"""What bench/fleet_deploy.py reads out of an ansible-playbook run and works out from it: pure
functions, no processes and no files (tests/unit/bench tests them).

- ``recap``: the PLAY RECAP's counters per host.
- ``tasks_run``: the tasks a host ran, from its counters: ok + failed + rescued + unreachable.
  Ansible's ``ok`` already counts the changed tasks, the failures ignored (``ignore_errors``) and
  each dynamic include (include_role, include_tasks); a failure that a rescue caught counts as
  ``rescued`` only. Skipped tasks ran nothing on the host and are counted apart.
- ``costliest``: the task summary of the ``ansible.posix.profile_tasks`` callback (task name and
  wall seconds, a task's batches added up under ``serial``, names that differ only by a URL too).
- ``serial_batches`` and ``cpu_floor``: the shortest wall time a fleet deploy can take, from the
  number of batches ``serial`` makes and the CPU the run needs.
"""

from __future__ import annotations

import re
from statistics import mean

RECAP = re.compile(r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)\s+rescued=(?P<rescued>\d+)"
                   r"\s+ignored=(?P<ignored>\d+)", re.MULTILINE)
# profile_tasks pads each summary line with dashes: "<task name> ------------- 12.34s".
PROFILE_LINE = re.compile(r"^(?P<name>.+?) -+ (?P<seconds>\d+\.\d+)s$", re.MULTILINE)
PROFILE_BANNER = "TASKS RECAP"
URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+")
DEFAULT_SERIAL = (1, "25%", "100%")


def recap(output: str) -> dict[str, dict[str, int]]:
    """Per host of the PLAY RECAP (localhost left out): ok, changed, unreachable, failed, skipped,
    rescued, ignored."""
    hosts = {}
    for match in RECAP.finditer(output):
        counts = match.groupdict()
        host = counts.pop("host")
        if host != "localhost":
            hosts[host] = {key: int(value) for key, value in counts.items()}
    return hosts


def tasks_run(counts: dict[str, int]) -> int:
    return counts["ok"] + counts["failed"] + counts["rescued"] + counts["unreachable"]


def per_clinic(hosts: dict[str, dict[str, int]]) -> dict[str, float]:
    """Tasks run per clinic (mean, least, most) and skipped tasks per clinic (mean)."""
    if not hosts:
        return {"tasks": 0.0, "least": 0, "most": 0, "skipped": 0.0}
    ran = [tasks_run(counts) for counts in hosts.values()]
    return {"tasks": mean(ran), "least": min(ran), "most": max(ran),
            "skipped": mean(counts["skipped"] for counts in hosts.values())}


def costliest(output: str, count: int = 5) -> list[tuple[str, float]]:
    """The ``count`` longest tasks of profile_tasks' summary, longest first: (name, wall seconds).

    A task of a dynamic include is a new task in every batch, often with the clinic's URL in its
    name: tasks whose names differ only by a URL are added up under one name (the URL as <url>)."""
    where = output.rfind(PROFILE_BANNER)
    if where < 0:
        return []
    tasks: dict[str, float] = {}
    for match in PROFILE_LINE.finditer(output[where:]):
        name = URL.sub("<url>", match["name"].strip())
        tasks[name] = tasks.get(name, 0.0) + float(match["seconds"])
    return sorted(tasks.items(), key=lambda task: -task[1])[:count]


def _batch_size(step: int | str, hosts: int) -> int:
    """Ansible's pct_to_int: a percentage of all the play's hosts, rounded down, at least 1."""
    if isinstance(step, str) and step.endswith("%"):
        return int(int(step[:-1]) / 100.0 * hosts) or 1
    return int(step)


def serial_batches(hosts: int, serial: tuple = DEFAULT_SERIAL) -> list[int]:
    """The batch sizes ``serial`` makes of ``hosts`` hosts, as Ansible cuts them (its last step
    repeats until every host had its turn)."""
    batches, left, step = [], hosts, 0
    while left > 0:
        size = min(_batch_size(serial[step], hosts), left)
        if size <= 0:  # serial 0: the rest in one batch
            return [*batches, left]
        batches.append(size)
        left -= size
        step = min(step + 1, len(serial) - 1)
    return batches


def cpu_floor(hosts: int, one_clinic_wall: float | None, cpu_seconds: float, cpus: int) -> float:
    """The shortest wall time of a fleet deploy: each batch takes at least a one-clinic deploy's wall
    time (T(1)), and the whole run cannot go faster than its CPU seconds spread over every CPU.
    For 3 clinics or more under the default serial that is max(3 x T(1), N x CPU per clinic / CPUs)."""
    batches = len(serial_batches(hosts)) * (one_clinic_wall or 0.0)
    return max(batches, cpu_seconds / cpus)


def batch_floor(hosts: int, one_clinic_wall: float | None, cpu_per_clinic: float, cpus: int) -> float:
    """The shortest wall time when serial's batches cannot overlap (a batch starts once the one
    before it ended): each batch takes at least T(1), and at least its own clinics' CPU seconds spread
    over every CPU. Never below cpu_floor; above it when a batch has more CPU work than T(1) covers,
    as the last batch of a large fleet has."""
    return sum(max(one_clinic_wall or 0.0, size * cpu_per_clinic / cpus) for size in serial_batches(hosts))


def ratio(ours: float, base: float) -> str:
    return f"{ours / base:.2f}" if base else "n/a"


def table(headers: list[str], rows: list[list], left: int = 1) -> str:
    """A markdown table; the first ``left`` columns are aligned left, the others (figures) right.
    A ``|`` in a cell (task names have them) is escaped."""
    rule = ["---" if i < left else "---:" for i in range(len(headers))]
    lines = [headers, rule, *([str(cell).replace("|", "\\|") for cell in row] for row in rows)]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)
