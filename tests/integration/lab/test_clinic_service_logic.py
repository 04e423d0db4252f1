"""Pure pieces of the lab clinic service and its artifacts (no servers)."""

from clinic_service.flags import parse
from clinic_service.migrate import NO_TRANSACTION, _statements
from medops_lab import artifacts


def test_flags_parse_only_feature_flags_with_booleans():
    text = "# comment\nFEATURE_FLAG_NEW_UI=true\nexport FEATURE_FLAG_BULK=' off '\nDATABASE_URL=x\nFEATURE_FLAG_MODE=beta\nbroken\n"
    assert parse(text) == {"FEATURE_FLAG_NEW_UI": True, "FEATURE_FLAG_BULK": False, "FEATURE_FLAG_MODE": "beta"}


def test_no_transaction_migration_splits_into_statements():
    sql = (artifacts.MIGRATIONS / "0003_insurance_broken.sql").read_text()
    assert sql.startswith(NO_TRANSACTION)
    statements = _statements(sql)
    assert len(statements) == 3 and statements[0].endswith("ADD COLUMN insurance_id text")


def test_tarballs_are_reproducible(tmp_path):
    first = artifacts.build(tmp_path / "a")
    second = artifacts.build(tmp_path / "b")
    assert [r["sha256"] for r in first] == [r["sha256"] for r in second]
    assert all(r["changed"] for r in first) and not any(r["changed"] for r in artifacts.build(tmp_path / "a"))
    assert [r["version"] for r in first] == ["1.0.0", "1.1.0", "1.2.0-bad", "1.2.0-badmigration", "1.2.0-errors"]
