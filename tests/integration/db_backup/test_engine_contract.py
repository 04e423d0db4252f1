"""The backup engine contract: a new engine is one file and its line in the registry.

A copy of the collection gets a toy engine (a file in plugins/module_utils) and its line in
backup_registry.py, nothing else; db_backup, run by Ansible from that copy, then dumps and
verifies through it with the base class's partial file, checksum, rename and manifest.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from harness.ansible import REPO, run_module

TOY_ENGINE = '''\
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.medops.runbook.plugins.module_utils import backup_manifest as bm
from ansible_collections.medops.runbook.plugins.module_utils.backup_engine import BackupEngine

MAGIC = b"TOY1"


class ToyEngine(BackupEngine):
    name = "toy"
    SUFFIX = ".toy"
    per_database = False

    def plan_dump(self, final):
        return ["write two words", "->", final]

    def write(self, partial):
        with self.create_partial(partial) as out:
            out.write(MAGIC + b"hello world")
        return {"tool": {"toy": "1.0"}, "tables": {"words": 2}}

    def verify(self, backup, manifest, restore_check):
        with open(backup, "rb") as handle:
            ok = handle.read(4) == MAGIC
        return [bm.checksum_check(backup, manifest), bm.check("toy_magic", ok, "magic %s" % ("found" if ok else "missing"))]
'''


def collection_with_toy_engine(tmp_path: Path) -> Path:
    """A copy of the collection's plugins and metadata, plus the toy engine and its registry line."""
    root = tmp_path / "collections"
    collection = root / "ansible_collections" / "medops" / "runbook"
    for part in ("plugins", "meta"):
        shutil.copytree(REPO / part, collection / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "galaxy.yml", collection / "galaxy.yml")
    module_utils = collection / "plugins" / "module_utils"
    (module_utils / "backup_toy.py").write_text(TOY_ENGINE)
    registry = module_utils / "backup_registry.py"
    text = registry.read_text()
    text = text.replace("\nENGINES = ", "\nfrom ansible_collections.medops.runbook.plugins.module_utils.backup_toy import ToyEngine\n\nENGINES = ", 1)
    assert "    RedisEngine,\n" in text
    registry.write_text(text.replace("    RedisEngine,\n", "    RedisEngine,\n    ToyEngine,\n", 1))
    return root


def test_a_toy_engine_dumps_and_verifies_through_the_registry(tmp_path):
    env = {"ANSIBLE_COLLECTIONS_PATH": str(collection_with_toy_engine(tmp_path))}
    dest = tmp_path / "backups"
    args = {"engine": "toy", "dest": str(dest), "clinic": "kin"}

    planned = run_module("db_backup", args, check=True, env=env)
    assert planned.get("failed") is not True, planned.get("msg")
    assert planned["command"][:2] == ["write two words", "->"] and not dest.exists()

    dumped = run_module("db_backup", args, env=env)
    assert dumped.get("failed") is not True, dumped.get("msg")
    backup = Path(dumped["backup"])
    assert backup.name.startswith("kin-toy-") and backup.suffix == ".toy"
    assert backup.read_bytes() == b"TOY1hello world" and oct(backup.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in dest.iterdir() if p.name.startswith(".")] == [], "no partial file is left"
    manifest = json.loads(Path(str(backup) + ".manifest.json").read_text())
    assert manifest["engine"] == "toy" and manifest["clinic"] == "kin" and manifest["database"] is None
    assert manifest["bytes"] == 15 and manifest["sha256_kind"] == "file" and manifest["tables"] == {"words": 2}

    verified = run_module("db_backup", dict(args, state="verified"), env=env)
    assert verified.get("failed") is not True, verified.get("msg")
    assert verified["backup"] == str(backup) and verified["verified"] is True
    assert [c["name"] for c in verified["checks"]] == ["checksum", "toy_magic"]

    backup.write_bytes(b"TOY1hello WORLD")
    broken = run_module("db_backup", dict(args, state="verified"), env=env)
    assert broken["failed"] is True and "checksum" in broken["msg"]


def test_the_real_collection_has_no_toy_engine():
    """The engine in the test above came from the copy alone."""
    result = run_module("db_backup", {"engine": "toy", "dest": "/nonexistent"})
    assert result["failed"] is True and "value of engine must be one of" in result["msg"]
