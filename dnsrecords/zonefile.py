"""Render records as an RFC 1035 zone file fragment (for the manual provider and for humans)."""

from __future__ import annotations

from collections.abc import Sequence

from dnsrecords.records import Record, quoted_strings


def rdata_text(record: Record, value: str) -> str:
    if record.type == "TXT":
        strings = quoted_strings(value)
        return strings[0] if len(strings) == 1 else "( " + "\n\t\t".join(strings) + " )"
    if record.type in ("CNAME", "NS", "PTR", "MX", "SRV"):
        return value + "."
    return value


def render(records: Sequence[Record], origin: str) -> str:
    """``$ORIGIN <zone>.`` and one line per value, owner names relative to the origin."""
    lines = [f"$ORIGIN {origin}."]
    width = max((len(r.relative_name(origin)) for r in records), default=1)
    for record in sorted(records, key=lambda r: (r.name.count("."), r.name, r.type)):
        owner = record.relative_name(origin).ljust(width)
        for value in record.values:
            lines.append(f"{owner} {record.ttl:>6} IN {record.type:<5} {rdata_text(record, value)}")
    return "\n".join(lines) + "\n"
