# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fetch a server's TLS certificate and read its validity dates.

The certificate is fetched without verifying it (an expired or self-signed certificate is exactly
what this check must be able to report on), and its dates are read from the DER encoding
directly, so no third-party library is needed on the managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import socket
import ssl


class CertificateError(Exception):
    """The certificate could not be fetched or read; the message says where and why."""


def _read_tlv(data, offset):
    """One DER element at ``offset``: (tag, start of content, end of content)."""
    tag = data[offset]
    length = data[offset + 1]
    offset += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[offset:offset + count], "big")
        offset += count
    return tag, offset, offset + length


def _children(data, start, end):
    while start < end:
        tag, content, after = _read_tlv(data, start)
        yield tag, content, after
        start = after


def _parse_time(tag, raw):
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ; years 50-99 are 19xx (RFC 5280)
        year = int(text[:2])
        text = ("19" if year >= 50 else "20") + text
    return datetime.datetime.strptime(text, "%Y%m%d%H%M%SZ")


def validity(der):
    """(not_before, not_after) as naive UTC datetimes, from a DER-encoded X.509 certificate."""
    try:
        cert_start, cert_end = _read_tlv(der, 0)[1:]
        tbs_start, tbs_end = next(_children(der, cert_start, cert_end))[1:]
        fields = list(_children(der, tbs_start, tbs_end))
        if fields and fields[0][0] == 0xA0:  # explicit [0] version
            fields = fields[1:]
        # serialNumber, signature, issuer, validity, ...
        val_start, val_end = fields[3][1:]
        (nb_tag, nb_start, nb_end), (na_tag, na_start, na_end) = list(_children(der, val_start, val_end))[:2]
        return _parse_time(nb_tag, der[nb_start:nb_end]), _parse_time(na_tag, der[na_start:na_end])
    except (IndexError, ValueError, StopIteration) as exc:
        raise CertificateError("cannot read the certificate's validity: %s" % exc)


def fetch_der(host, port, server_name=None, timeout=10):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            with context.wrap_socket(sock, server_hostname=server_name or host) as tls:
                der = tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        raise CertificateError("cannot fetch the TLS certificate of %s:%s: %s" % (host, port, exc))
    if not der:
        raise CertificateError("%s:%s presented no certificate" % (host, port))
    return der


def check(host, port, min_days, now=None, server_name=None, timeout=10):
    """Days left on the certificate of ``host:port`` and whether that is at least ``min_days``."""
    not_before, not_after = validity(fetch_der(host, port, server_name, timeout))
    now = now or datetime.datetime.utcnow()
    days_left = (not_after - now).total_seconds() / 86400.0
    return {
        "endpoint": "%s:%s" % (host, port),
        "not_before": not_before.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "days_left": round(days_left, 1),
        "ok": days_left >= min_days,
    }
