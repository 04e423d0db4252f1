"""The commands the README shows, and where the suite runs each of them exactly as written.

A newcomer copies commands from the README, so every one of them must work as printed. Each
README command is either run verbatim in the newcomer container (tests/newcomer) or is `make
test` or one of its stages, which CI runs (`.ci/run`). The unit test of this module fails when the
README and these lists drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"

# Run in this order by the newcomer test, in a clean Debian container, from the repository root.
NEWCOMER = (
    "make demo",
    "source .venv/bin/activate",
    "ansible-playbook playbooks/health_check.yml  -i inventories/lab",
    "ansible-playbook playbooks/rollback.yml      -i inventories/lab --limit clinic_kin",
    "ansible-playbook playbooks/deploy.yml        -i inventories/lab --limit clinic_kin -e deploy_version=1.1.0",
    "ansible-playbook playbooks/backup_verify.yml -i inventories/lab",
    "ansible-playbook playbooks/maintenance.yml   -i inventories/lab --check",
    "deactivate",
    "make lab-up",
    "make lab-status",
    "make lab-down",
)
# `make test` and its stages: CI runs them (.ci/run is `make test`). `make check` is a part of
# them: make test's unit and lint stages, some of sanity's tests and one integration test.
BY_CI = (
    "make test",
    "make check",
    "make unit",
    "make integration",
    "make reliability",
    "make molecule",
    "make newcomer",
    "make ansible-range",
    "make sanity",
    "make lint",
    "make build install-check",
)

_FENCE = re.compile(r"^```(\w*)\s*$")
_TABLE_COMMAND = re.compile(r"^\|\s*`(make [^`]+)`\s*\|")


def readme_commands(text: str) -> list[str]:
    """Every command in the README: lines of ```bash blocks (trailing comments cut) and `make ...` table rows."""
    commands, fence = [], None
    for line in text.splitlines():
        match = _FENCE.match(line)
        if match:
            fence = None if fence is not None else match.group(1)
            continue
        if fence in ("bash", "sh", "shell"):
            command = re.sub(r"\s+#.*$", "", line).rstrip()
            if command and not command.startswith("#"):
                commands.append(command)
        elif fence is None:
            table = _TABLE_COMMAND.match(line)
            if table:
                commands.append(table.group(1))
    return commands


def make_variable(makefile: str, name: str) -> list[str]:
    """The words of a `NAME := ...` (or `?=`, `=`) line of the Makefile."""
    match = re.search(rf"^{name}\s*[:?]?=\s*([^#\n]*)", makefile, re.MULTILINE)
    return match.group(1).split() if match else []


def suite_stages(words: list[str]) -> list[str]:
    """scripts/suite.sh's stages one by one: a group ``a+b`` (run side by side) counts as both."""
    return [stage for word in words for stage in word.split("+")]


def make_stages(makefile: str) -> list[str]:
    """The stages `make test` runs, one by one."""
    return suite_stages(make_variable(makefile, "STAGES"))


def make_recipe(makefile: str, target: str) -> str:
    """The first recipe line of a Makefile target."""
    match = re.search(rf"^{target}:[^\n]*\n\t([^\n]*)", makefile, re.MULTILINE)
    return match.group(1) if match else ""
