"""DNS name checks: owner names (which may hold ``_service`` labels) and host names (which may not).

Names are kept fully qualified, lower-case and without the trailing dot; IDNs must be given in punycode.
"""

from __future__ import annotations

import re

from toolkit import validate
from toolkit.errors import ValidationError

_OWNER_LABEL = re.compile(r"^(?:\*|_?[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?)$")
MAX_NAME = 253
MAX_LABEL = 63


def owner_name(value: object, field: str = "name") -> str:
    """A record's owner name: like a domain, but labels such as ``_dmarc`` or ``_smtp._tls`` are allowed."""
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
        raise ValidationError(field, f"{value!r} must be fully qualified (e.g. mail.example.com)")
    for label in labels:
        if not label:
            raise ValidationError(field, f"{value!r} has an empty label")
        if len(label) > MAX_LABEL:
            raise ValidationError(field, f"label {label[:20]!r}... is {len(label)} characters; at most {MAX_LABEL}")
        if not _OWNER_LABEL.fullmatch(label):
            raise ValidationError(
                field, f"label {label!r} may hold only letters, digits, inner hyphens and a leading underscore"
            )
    return name


def host_name(value: object, field: str = "host") -> str:
    """A host name a record points at (MX exchange, CNAME or SRV target): no underscores."""
    if isinstance(value, str):
        value = value.rstrip(".")
    return validate.domain(value, field)


def in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def relative(name: str, zone: str) -> str:
    """``name`` relative to ``zone`` as written in a zone file (``@`` for the apex)."""
    if name == zone:
        return "@"
    if not name.endswith("." + zone):
        raise ValidationError("name", f"{name!r} is not inside the zone {zone!r}")
    return name[: -len(zone) - 1]
