"""Fault-injection suite: real playbook and module runs on a lab of its own, with faults injected
while they run, and a table of scenario / expected end state / observed / outcome at the end.

The suite starts its own lab (``rlab``) rather than using the session ``lab``: its scenarios mark
releases bad, leave interrupted runs in the record and fill clinic databases with ballast, and
the deploy tests that share the session lab must not inherit any of that.
"""

from __future__ import annotations

import pytest

_ROWS: list[dict] = []


class Scenario:
    """What a test promises (``expected``) and what it saw (``observe``); one table row."""

    def __init__(self, nodeid: str):
        self.row = {"nodeid": nodeid, "scenario": "", "expected": "", "observed": [], "outcome": "not run"}

    def __call__(self, name: str, expected: str) -> "Scenario":
        self.row.update(scenario=name, expected=expected)
        return self

    def observe(self, text: str) -> None:
        self.row["observed"].append(text)


@pytest.fixture()
def scenario(request):
    item = Scenario(request.node.nodeid)
    request.node._reliability_scenario = item
    yield item
    if item.row["scenario"]:
        _ROWS.append(item.row)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    found = getattr(item, "_reliability_scenario", None)
    if found is None:
        return
    row = found.row
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if hasattr(report, "wasxfail"):
            row["outcome"] = "XFAIL" if report.skipped else "XPASS(strict: fail)"
        else:
            row["outcome"] = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}[report.outcome]
        if report.failed and not row["observed"]:
            message = str(report.longrepr.reprcrash.message) if hasattr(report.longrepr, "reprcrash") else str(report.longrepr)
            row["observed"].append(message.splitlines()[0][:160])


def _wrap(text: str, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + [line] if line else lines or [""]


def pytest_terminal_summary(terminalreporter):
    if not _ROWS:
        return
    widths = (34, 44, 52, 7)
    header = ("scenario", "expected end state", "observed", "result")
    write = terminalreporter.write_line
    terminalreporter.section("reliability scenarios")
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    write(rule)
    write("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    write(rule)
    for row in _ROWS:
        cells = [_wrap(row["scenario"], widths[0]), _wrap(row["expected"], widths[1]),
                 _wrap("; ".join(row["observed"]) or "-", widths[2]), [row["outcome"]]]
        for i in range(max(len(c) for c in cells)):
            write("| " + " | ".join((c[i] if i < len(c) else "").ljust(w) for c, w in zip(cells, widths)) + " |")
        write(rule)
    passed = sum(1 for r in _ROWS if r["outcome"] in ("PASS", "XFAIL"))
    write(f"{passed} of {len(_ROWS)} scenarios ended as expected (PASS, or XFAIL for a known bug)")


@pytest.fixture(scope="package")
def rlab():
    """A lab (kin, lub, gom on 1.0.0) of this suite's own; stopped and purged afterwards."""
    from medops_lab.testing import LabHandle

    handle = LabHandle.create(prefix="medops-rlab-")
    try:
        handle.up()
        yield handle
    finally:
        handle.run("down", "--purge", check=False)
