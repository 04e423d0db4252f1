# -*- coding: utf-8 -*-
# Copyright: medops.runbook contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judging an application's environment on its host: required keys set, secrets long enough, URLs
that parse. Findings name keys, never values: the file holds the application's secrets."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 has no place on a managed host of this collection
    from urlparse import urlsplit  # type: ignore


def _bad_url(value, schemes):
    """Why ``value`` is not a usable URL (without quoting it), or None."""
    try:
        parts = urlsplit(value.strip())
        parts.port  # pylint: disable=pointless-statement  # raises ValueError on a port out of range
    except ValueError:
        return "does not parse as a URL"
    if not parts.scheme or not parts.netloc:
        return "is not an absolute URL (scheme://host...)"
    if schemes and parts.scheme.lower() not in schemes:
        return "has scheme %s, not one of %s" % (parts.scheme, ", ".join(schemes))
    return None


def check(values, required=(), secrets=(), min_secret_length=32, urls=(), url_schemes=()):
    """Findings per kind, each a sorted list of keys, and ``problems``: one sentence per finding.

    Secrets and URLs are required too: a missing one is reported as missing, not as short."""
    schemes = [s.lower() for s in url_schemes]
    wanted = sorted(set(required) | set(secrets) | set(urls))
    missing = [k for k in wanted if k not in values]
    empty = [k for k in wanted if k in values and not values[k].strip()]
    present = [k for k in wanted if k not in missing and k not in empty]
    short = [k for k in sorted(set(secrets)) if k in present and len(values[k]) < min_secret_length]
    bad = [(k, _bad_url(values[k], schemes)) for k in sorted(set(urls)) if k in present]
    bad = [(k, why) for k, why in bad if why]
    problems = ["%s is not set" % k for k in missing] + ["%s is empty" % k for k in empty]
    problems += ["%s is %d characters long, shorter than %d" % (k, len(values[k]), min_secret_length) for k in short]
    problems += ["%s %s" % (k, why) for k, why in bad]
    return dict(checked=wanted, missing=missing, empty=empty, short_secrets=short,
                bad_urls=[k for k, _why in bad], problems=problems)
