"""Names relative to a zone. Names are kept fully qualified, lower-case and without the trailing dot; they are
checked by the one DNS name check, ``toolkit.validate.domain`` (``owner_name`` for a record's owner)."""

from __future__ import annotations

from toolkit.errors import ValidationError


def in_zone(name: str, zone: str) -> bool:
    return name == zone or name.endswith("." + zone)


def relative(name: str, zone: str) -> str:
    """``name`` relative to ``zone`` as written in a zone file (``@`` for the apex)."""
    if name == zone:
        return "@"
    if not name.endswith("." + zone):
        raise ValidationError("name", f"{name!r} is not inside the zone {zone!r}")
    return name[: -len(zone) - 1]
