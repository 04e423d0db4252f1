"""The slowest tests across several pytest JUnit XML reports, as one table.

    python3 scripts/slowest.py [--top 15] reports/junit-unit.xml reports/junit-integration.xml ...

A report is named after its stage (junit-STAGE.xml). A test's time is what pytest recorded for it
(setup, call and teardown: a session fixture's start-up counts against the first test using it).
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def stage_of(path: Path) -> str:
    name = path.stem
    return name[len("junit-"):] if name.startswith("junit-") else name


def outcome(case: ET.Element) -> str:
    for tag, word in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        if case.find(tag) is not None:
            return word
    return "passed"


def read(paths: list[Path]) -> list[tuple[float, str, str, str]]:
    rows = []
    for path in paths:
        try:
            root = ET.parse(path).getroot()
        except (ET.ParseError, OSError) as exc:
            print(f"slowest: cannot read {path}: {exc}", file=sys.stderr)
            continue
        for case in root.iter("testcase"):
            name = f"{case.get('classname', '')}::{case.get('name', '')}".lstrip(":")
            rows.append((float(case.get("time") or 0.0), stage_of(path), name, outcome(case)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--top", type=int, default=15, help="how many tests to list (default 15)")
    parser.add_argument("reports", nargs="+", type=Path, help="JUnit XML files written by pytest --junitxml")
    args = parser.parse_args(argv)
    rows = sorted(read(args.reports), reverse=True)
    total = sum(r[0] for r in rows)
    print(f"=== {min(args.top, len(rows))} slowest of {len(rows)} tests ({total:.0f} s of test time in all)")
    print(f"{'seconds':>8}  {'stage':<12} {'outcome':<8} test")
    for seconds, stage, name, result in rows[:args.top]:
        print(f"{seconds:8.1f}  {stage:<12} {result:<8} {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
