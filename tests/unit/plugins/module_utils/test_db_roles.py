"""db_roles: role names, SCRAM verifiers, and what a plan must change, from catalog facts."""

import base64
import hashlib
import hmac

import pytest

from ansible_collections.medops.runbook.plugins.module_utils import db_roles
from ansible_collections.medops.runbook.plugins.module_utils.db_roles import DbRolesError

NAMES = {"application": "clinic_kin", "backup": "clinic_kin_backup", "restore": "clinic_kin_restore"}


def test_backup_and_restore_names_default_from_the_application_role():
    assert db_roles.role_names("clinic_kin") == NAMES
    assert db_roles.role_names("clinic_kin", "kin_dump", "kin_restore")["backup"] == "kin_dump"


@pytest.mark.parametrize("names, message", [
    ({"application": "a", "backup": "a", "restore": "r"}, "three different roles"),
    ({"application": "a", "backup": "", "restore": "r"}, "backup role needs a name"),
    ({"application": "a", "backup": "b", "restore": "r" * 64}, "longer than 63 bytes"),
    ({"application": "pg_app", "backup": "b", "restore": "r"}, "reserves"),
])
def test_bad_names_are_refused(names, message):
    with pytest.raises(DbRolesError, match=message):
        db_roles.check_names(names)


def test_scram_verifier_completes_the_rfc_7677_exchange():
    """RFC 7677's example (user, pencil): the keys in the verifier prove the client and sign the server."""
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    verifier = db_roles.scram_verifier("pencil", salt=salt, iterations=4096)
    head, keys = verifier.rsplit("$", 1)
    assert head == "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=="
    stored_key, server_key = (base64.b64decode(part) for part in keys.split(":"))
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth = ("n=user,r=rOprNGfwEbeRWgbNEkqO,r=%s,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=%s" % (nonce, nonce)).encode()
    signature = hmac.new(server_key, auth, hashlib.sha256).digest()
    assert base64.b64encode(signature).decode() == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_signature = hmac.new(stored_key, auth, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature))
    assert hashlib.sha256(client_key).digest() == stored_key


def test_each_verifier_has_a_fresh_salt_and_never_the_password():
    first, second = db_roles.scram_verifier("s3cret-password"), db_roles.scram_verifier("s3cret-password")
    assert first != second and "s3cret" not in first


def test_non_ascii_passwords_are_left_to_the_server_to_hash():
    assert db_roles.hashable("plain-ASCII-42") and not db_roles.hashable("mot-de-passe-été")


def test_attribute_changes_name_only_what_differs():
    current = {"rolcanlogin": True, "rolcreatedb": True, "rolcreaterole": False, "rolreplication": False,
               "rolbypassrls": False, "rolinherit": True}
    assert db_roles.attribute_changes("application", current) == ["NOCREATEDB"]
    assert db_roles.attribute_changes("restore", current) == []
    assert db_roles.attribute_changes("restore", dict(current, rolinherit=False, rolcanlogin=False)) == ["INHERIT", "LOGIN"]


def test_a_superuser_among_the_roles_is_refused():
    with pytest.raises(DbRolesError, match="clinic_kin_restore.*superuser.*NOSUPERUSER"):
        db_roles.check_roles(NAMES, {"clinic_kin_restore": {"rolsuper": True}, "clinic_kin": {"rolsuper": False}})
    db_roles.check_roles(NAMES, {"clinic_kin": {"rolsuper": False}})


def test_database_changes_revoke_public_and_grant_connect_to_the_clinic_roles():
    default = [("clinic_kin", "CONNECT"), ("clinic_kin", "CREATE"), (None, "CONNECT"), (None, "TEMPORARY")]
    assert db_roles.database_changes("clinic_kin", default, NAMES) == (True, ["backup", "restore"])
    done = [("clinic_kin", "CONNECT"), ("clinic_kin_backup", "CONNECT"), ("clinic_kin_restore", "CONNECT")]
    assert db_roles.database_changes("clinic_kin", done, NAMES) == (False, [])


def test_a_database_owned_by_another_role_is_refused():
    with pytest.raises(DbRolesError, match="owned by 'postgres'.*OWNER TO clinic_kin"):
        db_roles.database_changes("postgres", [], NAMES)


def test_missing_default_privileges():
    assert [entry[2] for entry in db_roles.missing_defaults([])] == ["TABLES", "SEQUENCES", "SCHEMAS"]
    assert db_roles.missing_defaults([("r", "SELECT"), ("S", "SELECT"), ("n", "USAGE")]) == []
    assert [entry[2] for entry in db_roles.missing_defaults([("r", "SELECT"), ("r", "INSERT")])] == ["SEQUENCES", "SCHEMAS"]


def test_acl_grants_group_privileges_per_grantee_and_grant_option():
    rows = [("clinic_kin", "CONNECT", False), ("clinic_kin", "CREATE", False), ("clinic_kin", "TEMPORARY", False),
            ("clinic_kin_backup", "CONNECT", False), (None, "CONNECT", False), ("ops", "CONNECT", True)]
    assert db_roles.acl_grants(rows) == [
        (["CONNECT"], None, False), (["CONNECT", "CREATE", "TEMPORARY"], "clinic_kin", False),
        (["CONNECT"], "clinic_kin_backup", False), (["CONNECT"], "ops", True)]


def test_a_database_with_the_default_acl_needs_no_copy():
    assert db_roles.copy_acl_statements("clinic_kin_restore_1", "clinic_kin", []) == []


def test_an_unknown_database_privilege_is_refused():
    with pytest.raises(DbRolesError, match="unknown database privilege DROP"):
        db_roles.copy_acl_statements("x", "clinic_kin", [("clinic_kin", "DROP", False)])


def test_statements_show_no_password():
    statement = db_roles.create_role("restore", "clinic_kin_restore", "very-secret-password-1")
    assert statement.shown == ("CREATE ROLE clinic_kin_restore NOBYPASSRLS CREATEDB NOCREATEROLE INHERIT LOGIN "
                               "NOREPLICATION PASSWORD ********")
    assert statement.params[0].startswith("SCRAM-SHA-256$4096:")
    assert "very-secret" not in db_roles.set_password("clinic_kin", "very-secret-password-1").shown


def test_redact_masks_every_password():
    assert db_roles.redact("role a password pw-1 and pw-2", ["pw-1", "pw-2"]) == "role a password ******** and ********"
