"""Fail when a task in roles/ or playbooks/ runs ansible.builtin.shell or ansible.builtin.command
with a command string that interpolates Jinja ({{ ... }}): such a value is split or handed to a
shell, so a variable holding spaces or metacharacters becomes code. Pass values as an ``argv:``
list instead. Prints every offending file:line (the task's first line) and exits 1; exits 0 when there is none.

    scripts/check-shell-tasks.py [--root DIR]    (default: the repository this script is in)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

MODULES = {"shell", "command", "ansible.builtin.shell", "ansible.builtin.command",
           "ansible.legacy.shell", "ansible.legacy.command"}
NESTED = ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers")


class LineLoader(yaml.SafeLoader):
    """Keeps the line of every mapping (as ``__line__``) so an offence can be located."""


def _mapping_with_line(loader, node):
    mapping = loader.construct_mapping(node, deep=True)
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def _interpolated(value) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _whole_expression(value: str) -> bool:
    text = value.strip()
    return text.startswith("{{") and text.endswith("}}") and text.count("{{") == 1


def offences(tasks):
    """(line, module, command) of every shell/command task whose command string is templated."""
    for task in tasks if isinstance(tasks, list) else []:
        if not isinstance(task, dict):
            continue
        for key in NESTED:
            yield from offences(task.get(key))
        for module in MODULES & set(task):
            args = task[module]
            command = args if isinstance(args, str) else (args.get("cmd") or args.get("_raw_params")) \
                if isinstance(args, dict) else None
            if _interpolated(command):
                yield task["__line__"], module, command
            elif isinstance(args, dict) and _interpolated(args.get("argv")) and not _whole_expression(args["argv"]):
                # "{{ list_var }}" renders to a list; text around an expression makes one string.
                yield task["__line__"], module, args["argv"]


def check_file(path: Path):
    try:
        documents = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=LineLoader))
    except yaml.YAMLError as exc:
        print(f"{path}: cannot parse: {exc}", file=sys.stderr)
        return []
    found = []
    for document in documents:
        found.extend(offences(document))
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    files = sorted(p for top in ("roles", "playbooks") for p in (args.root / top).rglob("*.y*ml")
                   if p.suffix in (".yml", ".yaml") and "/templates/" not in str(p) and "/meta/" not in str(p))
    bad = 0
    for path in files:
        for line, module, command in check_file(path):
            bad += 1
            print(f"{path}:{line}: {module} runs a Jinja-interpolated command; use argv: [...] instead: {command!r}")
    print(f"checked {len(files)} files: {bad} shell/command task(s) with an interpolated command string")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
