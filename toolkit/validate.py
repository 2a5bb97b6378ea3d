"""Validation of identifiers that end up in Vault paths, DNS names, Linux user names and stack names.

Every function returns the normalised value or raises ``ValidationError`` naming the field.
Nothing a caller passes may escape its path: no ``..``, ``/``, wildcards, control characters, empties.
Patterns are applied with ``fullmatch``: ``re.match`` with ``$`` would accept a trailing newline.
"""

from __future__ import annotations

import re

from toolkit.errors import ValidationError

TENANT_ID_MAX = 63
_TENANT_ID = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Names that are looked up or own records but are not host names may hold underscores: a leading one (`_dmarc`,
# `_spf`, `_smtp._tls`) or inner ones; never an edge hyphen.
_NAME_LABEL = re.compile(r"^_?[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?$")
MAX_NAME = 253
MAX_LABEL = 63
_SELECTOR = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def tenant_id(value: object, field: str = "tenant_id") -> str:
    """Lower-case letters, digits and inner hyphens, 1..63 chars (usable as a DNS label and a path segment)."""
    if not isinstance(value, str) or not value:
        raise ValidationError(field, "must be a non-empty string")
    if len(value) > TENANT_ID_MAX:
        raise ValidationError(field, f"is {len(value)} characters long; at most {TENANT_ID_MAX} allowed")
    if not _TENANT_ID.fullmatch(value):
        raise ValidationError(
            field,
            f"{value!r} is not allowed: use lower-case letters, digits and inner hyphens only "
            "(no '/', '..', '*', spaces or upper case)",
        )
    return value


def domain(value: object, field: str = "domain", allow_service_labels: bool = False,
           allow_wildcard: bool = False) -> str:
    """A fully qualified ASCII DNS name, lower-case, without the trailing dot (IDNs in their xn-- form): the one
    DNS name check. By default a host name (letters, digits, inner hyphens: domains, the targets of MX, CNAME and
    SRV records). ``allow_service_labels`` also accepts underscores, leading (``_spf``, ``_dmarc``) or inner: names
    that are only looked up (SPF includes) or own records. ``allow_wildcard`` accepts a ``*`` label too."""
    if not isinstance(value, str) or not value.strip("."):
        raise ValidationError(field, "must be a non-empty DNS name")
    if not value.isascii():
        raise ValidationError(
            field, f"{value!r} contains non-ASCII characters: give the IDN in its punycode (xn--) form"
        )
    name = value.rstrip(".").lower()
    if len(name) > MAX_NAME:
        raise ValidationError(field, f"is {len(name)} characters long; a DNS name has at most {MAX_NAME}")
    labels = name.split(".")
    if len(labels) < 2:
        raise ValidationError(field, f"{value!r} must be fully qualified (at least two labels, e.g. example.com)")
    grammar = _NAME_LABEL if allow_service_labels else _HOST_LABEL
    for label in labels:
        if not label:
            raise ValidationError(field, f"{value!r} has an empty label")
        if len(label) > MAX_LABEL:
            raise ValidationError(field, f"label {label[:20]!r}... is {len(label)} characters; at most {MAX_LABEL}")
        if not grammar.fullmatch(label) and not (allow_wildcard and label == "*"):
            allowed = ("letters, digits, inner hyphens or underscores and a leading underscore"
                       if allow_service_labels else "letters, digits and inner hyphens")
            raise ValidationError(field, f"label {label!r} may hold only {allowed}")
    if labels[-1].isdigit():
        raise ValidationError(field, f"{value!r} looks like an IP address, not a domain")
    return name


def owner_name(value: object, field: str = "name") -> str:
    """A DNS record's owner name: ``domain`` with underscore labels (``_dmarc``, ``_smtp._tls``) and ``*``."""
    return domain(value, field, allow_service_labels=True, allow_wildcard=True)


def dkim_selector(value: object, field: str = "dkim_selector") -> str:
    if not isinstance(value, str) or not _SELECTOR.fullmatch(value):
        raise ValidationError(field, f"{value!r} must be 1..63 lower-case letters, digits or inner hyphens")
    return value


def key_id(value: object, field: str = "key_id") -> str:
    if not isinstance(value, str) or not _KEY_ID.fullmatch(value):
        raise ValidationError(field, f"{value!r} must be 1..64 characters of A-Z a-z 0-9 _ -")
    return value


def linux_tenant_user(tenant: str) -> str:
    """The tenant's login user on its VPS: ``tenant-<first 8 chars of the tenant id>``."""
    return f"tenant-{tenant_id(tenant)[:8]}"
