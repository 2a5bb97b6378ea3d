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
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# Service labels such as `_spf` or `_domainkey` appear in names that are looked up but not registered.
_SERVICE_LABEL = re.compile(r"^_[a-z0-9-]{1,62}$")
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


def domain(value: object, field: str = "domain", allow_service_labels: bool = False) -> str:
    """A fully qualified ASCII domain name (IDNs must be given in their xn-- form).

    ``allow_service_labels`` also accepts labels like ``_spf`` (for names that are only looked up, e.g. SPF
    includes such as ``_spf.google.com``).
    """
    if not isinstance(value, str) or not value:
        raise ValidationError(field, "must be a non-empty string")
    name = value.rstrip(".")
    if not name.isascii():
        raise ValidationError(
            field, f"{value!r} contains non-ASCII characters: give the IDN in its punycode (xn--) form"
        )
    name = name.lower()
    if len(name) > 253:
        raise ValidationError(field, f"is {len(name)} characters long; a domain name has at most 253")
    labels = name.split(".")
    if len(labels) < 2:
        raise ValidationError(field, f"{value!r} needs at least two labels (e.g. example.com)")
    for label in labels:
        if not label:
            raise ValidationError(field, f"{value!r} has an empty label")
        if len(label) > 63:
            raise ValidationError(field, f"label {label[:20]!r}... is {len(label)} characters; at most 63")
        if not _LABEL.fullmatch(label) and not (allow_service_labels and _SERVICE_LABEL.fullmatch(label)):
            raise ValidationError(
                field, f"label {label!r} may hold only letters, digits and inner hyphens"
            )
    if labels[-1].isdigit():
        raise ValidationError(field, f"{value!r} looks like an IP address, not a domain")
    return name


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
