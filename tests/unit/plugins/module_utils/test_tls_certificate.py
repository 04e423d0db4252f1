"""Reading validity dates out of DER certificates."""

import datetime
import subprocess

import pytest

from ansible_collections.medops.runbook.plugins.module_utils.tls_certificate import CertificateError, validity


def _der(tmp_path, *extra):
    key, pem, der = tmp_path / "k", tmp_path / "c.pem", tmp_path / "c.der"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(pem),
                    "-subj", "/CN=test", *extra], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-in", str(pem), "-outform", "DER", "-out", str(der)], check=True)
    return der.read_bytes()


def test_validity_matches_requested_dates(tmp_path):
    not_before, not_after = validity(_der(tmp_path, "-days", "10"))
    assert (not_after - not_before) == datetime.timedelta(days=10)


def test_generalized_time_after_2049(tmp_path):
    not_after = validity(_der(tmp_path, "-days", str(365 * 40)))[1]
    assert not_after.year >= 2060


def test_garbage_is_a_clear_error():
    with pytest.raises(CertificateError, match="cannot read the certificate's validity"):
        validity(b"\x30\x03\x02\x01\x01")
