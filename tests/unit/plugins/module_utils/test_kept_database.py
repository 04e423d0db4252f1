"""kept_database: the names, labels and row differences of databases a restore keeps instead of dropping."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.medops.runbook.plugins.module_utils import kept_database as kept

MOMENT = datetime.datetime(2026, 11, 22, 3, 15, 0, tzinfo=datetime.timezone.utc)


def test_kept_name_says_what_and_when():
    assert kept.kept_name("clinic_kin", MOMENT) == "clinic_kin_kept_20261122031500"


def test_kept_name_fits_postgresql_identifiers_even_for_long_and_multibyte_names():
    for database in ("x" * 63, "é" * 40, "clinique_de_réadaptation_" * 3):
        name = kept.kept_name(database, MOMENT, taken={kept.kept_name(database, MOMENT)})
        assert len(name.encode("utf-8")) <= 63, name
        assert name.endswith("_kept_20261122031500_2")
        name.encode("utf-8").decode("utf-8")  # never cut inside a character


def test_kept_name_takes_the_next_free_number_then_refuses():
    first = kept.kept_name("clinic_kin", MOMENT)
    taken = {first} | {"%s_%d" % (first, n) for n in range(2, 5)}
    assert kept.kept_name("clinic_kin", MOMENT, taken) == first + "_5"
    with pytest.raises(ValueError, match="same second"):
        kept.kept_name("clinic_kin", MOMENT, {first} | {"%s_%d" % (first, n) for n in range(2, 10)})


def test_label_round_trip_and_foreign_comments():
    text = kept.label("clinic_kin", "2026-11-22T03:15:00.000000Z", "kin", "kin-postgresql-x.dump")
    assert text.startswith(kept.MARKER)
    assert kept.parse_label(text) == {"kept_from": "clinic_kin", "kept_at": "2026-11-22T03:15:00.000000Z", "clinic": "kin",
                                      "backup": "kin-postgresql-x.dump"}
    for other in (None, "", "a note by a person", kept.MARKER + "{not json", kept.MARKER + "[1]", kept.MARKER + '{"kept_from": "x"}'):
        assert kept.parse_label(other) is None


def test_belongs_to_needs_the_label_and_the_name_to_agree():
    fields = {"kept_from": "clinic_kin", "kept_at": "2026-11-22T03:15:00.000000Z"}
    assert kept.belongs_to("clinic_kin_kept_20261122031500", fields, "clinic_kin")
    assert kept.belongs_to("clinic_kin_kept_20261122031500_3", fields, "clinic_kin")
    assert not kept.belongs_to("clinic_kin_kept_20261122031500", fields, "clinic_lub")
    assert not kept.belongs_to("clinic_kin_kept_20261122031500", None, "clinic_kin")
    assert not kept.belongs_to("clinic_kin", fields, "clinic_kin")
    assert not kept.belongs_to("clinic_kin_kept_important_copy", fields, "clinic_kin")
    assert not kept.belongs_to("clinic_kin_kept_2026112203150", fields, "clinic_kin")


def test_rows_since_backup_lists_only_the_tables_that_differ():
    manifest = {"public.patients": 100, "public.appointments": 5, "public.gone": 7, "public.same": 3}
    kept_counts = {"public.patients": 112, "public.appointments": 4, "public.new_table": 2, "public.same": 3}
    assert kept.rows_since_backup(manifest, kept_counts) == {
        "public.appointments": -1, "public.gone": -7, "public.new_table": 2, "public.patients": 12}
    assert kept.rows_since_backup(manifest, dict(manifest)) == {}


def test_required_bytes_and_human_sizes():
    assert kept.required_bytes(1000, 24) == 1024
    assert kept.human_bytes(512) == "512 B"
    assert kept.human_bytes(3 * 1024 * 1024) == "3.0 MiB"
    assert kept.human_bytes(5 * 1024 ** 5) == "5120.0 TiB"
