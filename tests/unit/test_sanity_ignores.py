"""The ansible-core 2.16 sanity run (make ansible-range) stays in step with the unit tests.

ansible-test 2.16 still asks every Python file under tests/unit/plugins for the Python 2
boilerplate (``from __future__ import (absolute_import, ...)``, ``__metaclass__ = type``), which
2.17 and later no longer want; the unit tests are Python 3 only, so tests/sanity/ignore-2.16.txt
lists them. A test file added without its two lines would fail only in the slow range stage: this
catches it in `make check`, and says what to add.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IGNORE = REPO / "tests" / "sanity" / "ignore-2.16.txt"
MARKS = {
    "future-import-boilerplate": "from __future__ import (absolute_import, division, print_function)",
    "metaclass-boilerplate": "__metaclass__ = type",
}


def wanted() -> set[str]:
    lines = set()
    for path in (REPO / "tests" / "unit" / "plugins").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if not text.strip():
            continue
        for test, mark in MARKS.items():
            if mark not in text:
                lines.add(f"{path.relative_to(REPO).as_posix()} {test}")
    return lines


def test_ignore_2_16_lists_exactly_the_unit_tests_without_python2_boilerplate():
    listed = set(IGNORE.read_text(encoding="utf-8").splitlines()) - {""}
    want = wanted()
    assert not want - listed, "add to tests/sanity/ignore-2.16.txt:\n" + "\n".join(sorted(want - listed))
    assert not listed - want, "remove from tests/sanity/ignore-2.16.txt:\n" + "\n".join(sorted(listed - want))


def test_unit_tests_set_module_args_through_the_harness():
    """ansible.module_utils.testing exists from 2.19 on; harness.modargs falls back on older cores."""
    direct = [path.relative_to(REPO).as_posix() for path in (REPO / "tests" / "unit").rglob("*.py")
              if path != Path(__file__).resolve() and "from ansible.module_utils.testing import" in path.read_text(encoding="utf-8")]
    assert not direct, f"import patch_module_args from harness.modargs instead: {direct}"
