"""env_check's judgement: pure logic on parsed values, and the env-file reader on real files."""

import pytest

from ansible_collections.medops.runbook.plugins.module_utils.env_check import check
from ansible_collections.medops.runbook.plugins.module_utils.env_file import read_values

GOOD = {"NODE_ENV": "production", "JWT_SECRET": "s" * 40, "DATABASE_URL": "postgresql://db.internal:5432/clinic",
        "API_BASE_URL": "https://kin.clinics.example.org"}


def test_a_good_environment_has_no_problem():
    result = check(GOOD, required=["NODE_ENV"], secrets=["JWT_SECRET"], urls=["DATABASE_URL", "API_BASE_URL"])
    assert result["problems"] == [] and result["checked"] == ["API_BASE_URL", "DATABASE_URL", "JWT_SECRET", "NODE_ENV"]


def test_a_short_secret_is_named_with_its_length_never_its_value():
    values = dict(GOOD, JWT_SECRET="x" * 19 + "Y")
    result = check(values, secrets=["JWT_SECRET"])
    assert result["short_secrets"] == ["JWT_SECRET"]
    assert result["problems"] == ["JWT_SECRET is 20 characters long, shorter than 32"]
    assert "xY" not in repr(result)


@pytest.mark.parametrize("value, why", [
    ("db.internal:5432/clinic", "is not an absolute URL"),
    ("http://host:99999/", "does not parse as a URL"),
    ("/relative/path", "is not an absolute URL"),
    ("ftp://files.example.org/", "has scheme ftp, not one of https, postgresql"),
])
def test_urls_must_be_absolute_and_of_an_allowed_scheme(value, why):
    result = check(dict(GOOD, DATABASE_URL=value), urls=["DATABASE_URL"], url_schemes=["https", "PostgreSQL"])
    assert result["bad_urls"] == ["DATABASE_URL"]
    assert result["problems"][0].startswith("DATABASE_URL " + why)
    assert value not in " ".join(result["problems"])


def test_missing_and_empty_keys_are_reported_once_whatever_list_names_them():
    result = check({"NODE_ENV": " ", "X": "1"}, required=["NODE_ENV", "REDIS_URL"], secrets=["JWT_SECRET"], urls=["REDIS_URL"])
    assert result["missing"] == ["JWT_SECRET", "REDIS_URL"] and result["empty"] == ["NODE_ENV"]
    assert result["short_secrets"] == [] and result["bad_urls"] == []
    assert result["problems"] == ["JWT_SECRET is not set", "REDIS_URL is not set", "NODE_ENV is empty"]


def test_read_values_understands_export_quotes_comments_and_the_last_assignment(tmp_path):
    env = tmp_path / "app.env"
    env.write_bytes(b"# comment\nexport NODE_ENV=production\nJWT_SECRET='a b # not a comment'\n"
                    b"API_BASE_URL=https://x.example.org  # trailing\nNODE_ENV=\"staging\"\r\nbroken line\n\xff=1\n")
    assert read_values(str(env)) == {"NODE_ENV": "staging", "JWT_SECRET": "a b # not a comment",
                                     "API_BASE_URL": "https://x.example.org"}
