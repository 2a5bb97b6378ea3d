"""The record model: one ``Record`` per RRset (owner name + type), values normalised so equal data compares equal.

Value formats (presentation form, names without the trailing dot):
    A "192.0.2.1" | AAAA "2001:db8::1" | CNAME/NS/PTR "mail.example.com" | MX "10 mail.example.com"
    SRV "0 1 587 mail.example.com" | TXT the logical text (see below)

A TXT value is its logical text: SPF, DKIM and DMARC readers join a record's character-strings, so the model
keeps the joined text and ``txt_strings`` cuts it into <= 255-byte strings for the wire. Callers that hand
in already-split strings use ``Record.txt(name, [s1, s2], ...)``: each string must then fit in 255 bytes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dnsrecords.names import relative
from toolkit import validate
from toolkit.errors import ValidationError

TXT_STRING_MAX = 255
TXT_TOTAL_MAX = 4000  # far above any mail record (an RSA-4096 DKIM key is ~740 bytes), catches pasted junk
TTL_MIN = 1
TTL_MAX = 604_800
DEFAULT_TTL = 3600
SUPPORTED_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "NS", "PTR")


def _ipv4(value: str, field: str) -> str:
    try:
        return str(ipaddress.IPv4Address(value.strip()))
    except ValueError:
        pass
    try:
        ipaddress.IPv6Address(value.strip())
    except ValueError:
        raise ValidationError(field, f"{value!r} is not an IPv4 address (dotted quad, e.g. 192.0.2.10)") from None
    raise ValidationError(field, f"{value!r} is an IPv6 address: an A record needs IPv4 (use AAAA for IPv6)")


def _ipv6(value: str, field: str) -> str:
    try:
        return str(ipaddress.IPv6Address(value.strip()))
    except ValueError:
        raise ValidationError(field, f"{value!r} is not an IPv6 address") from None


def _u16(text: str, what: str, field: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise ValidationError(field, f"{what} {text!r} must be a whole number 0..65535")
    return int(text)


def _mx(value: str, field: str) -> str:
    parts = value.split()
    if len(parts) != 2:
        raise ValidationError(field, f"{value!r} must be '<priority> <host>' (e.g. '10 mail.example.com')")
    return f"{_u16(parts[0], 'priority', field)} {validate.domain(parts[1], field)}"


def _srv(value: str, field: str) -> str:
    parts = value.split()
    if len(parts) != 4:
        raise ValidationError(field, f"{value!r} must be '<priority> <weight> <port> <target>'")
    numbers = [_u16(p, what, field) for p, what in zip(parts[:3], ("priority", "weight", "port"), strict=True)]
    return f"{numbers[0]} {numbers[1]} {numbers[2]} {validate.domain(parts[3], field)}"


def _txt(value: str, field: str) -> str:
    if not value:
        raise ValidationError(field, "a TXT value must not be empty")
    if not all(" " <= ch <= "~" for ch in value):
        raise ValidationError(field, "a TXT value may hold only printable ASCII characters (no control characters)")
    if len(value) > TXT_TOTAL_MAX:
        raise ValidationError(field, f"TXT value is {len(value)} bytes; at most {TXT_TOTAL_MAX} accepted")
    return value


def normalise_value(rtype: str, value: object, field: str = "value") -> str:
    if not isinstance(value, str):
        raise ValidationError(field, f"{value!r} must be a string")
    if rtype == "A":
        return _ipv4(value, field)
    if rtype == "AAAA":
        return _ipv6(value, field)
    if rtype in ("CNAME", "NS", "PTR"):
        return validate.domain(value, field)
    if rtype == "MX":
        return _mx(value, field)
    if rtype == "SRV":
        return _srv(value, field)
    if rtype == "TXT":
        return _txt(value, field)
    raise ValidationError("type", f"{rtype!r} is not supported; use one of {', '.join(SUPPORTED_TYPES)}")


def check_ttl(ttl: object, field: str = "ttl") -> int:
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not TTL_MIN <= ttl <= TTL_MAX:
        raise ValidationError(field, f"{ttl!r} must be a whole number of seconds {TTL_MIN}..{TTL_MAX}")
    return ttl


def txt_strings(value: str) -> tuple[bytes, ...]:
    """The <= 255-byte character-strings a TXT value is published as (cut at 255-byte boundaries)."""
    data = value.encode("ascii")
    return tuple(data[i : i + TXT_STRING_MAX] for i in range(0, len(data), TXT_STRING_MAX)) or (b"",)


def quoted_strings(value: str) -> list[str]:
    """Each <= 255-byte string of a TXT value in double quotes, ``"`` and ``\\`` escaped (zone-file form)."""
    return ['"' + c.decode("ascii").replace("\\", "\\\\").replace('"', '\\"') + '"' for c in txt_strings(value)]


def quote_txt(value: str) -> str:
    """Zone-file / Cloudflare form of a TXT value: its quoted strings separated by spaces."""
    return " ".join(quoted_strings(value))


def unquote_txt(content: str) -> str:
    """The logical text of ``"a" "b"`` (zone-file quoting, ``\\DDD`` escapes); unquoted text is returned as is."""
    text = content.strip()
    if not text.startswith('"'):
        return text
    out: list[str] = []
    i, inside = 0, False
    while i < len(text):
        ch = text[i]
        if not inside:
            if ch == '"':
                inside = True
            elif not ch.isspace():
                raise ValidationError("txt", f"unexpected {ch!r} between quoted strings in {content[:60]!r}")
        elif ch == "\\" and i + 1 < len(text):
            if text[i + 1 : i + 4].isdigit() and len(text[i + 1 : i + 4]) == 3:
                out.append(chr(int(text[i + 1 : i + 4])))
                i += 3
            else:
                out.append(text[i + 1])
                i += 1
        elif ch == '"':
            inside = False
        else:
            out.append(ch)
        i += 1
    if inside:
        raise ValidationError("txt", f"unterminated quoted string in {content[:60]!r}")
    return "".join(out)


@dataclass(frozen=True)
class Record:
    """One RRset. Construction validates and normalises; an invalid record cannot exist."""

    name: str
    type: str
    ttl: int
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        rtype = self.type.upper() if isinstance(self.type, str) else self.type
        if rtype not in SUPPORTED_TYPES:
            raise ValidationError("type", f"{self.type!r} is not supported; use one of {', '.join(SUPPORTED_TYPES)}")
        name = validate.owner_name(self.name, "name")
        field = f"{rtype} {name}"
        check_ttl(self.ttl, f"{field} ttl")
        raw = (self.values,) if isinstance(self.values, str) else tuple(self.values)
        if not raw:
            raise ValidationError(field, "needs at least one value")
        values = tuple(sorted({normalise_value(rtype, v, field) for v in raw}))
        if rtype == "CNAME" and len(values) > 1:
            raise ValidationError(field, "a CNAME holds exactly one target")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "type", rtype)
        object.__setattr__(self, "values", values)

    @classmethod
    def txt(cls, name: str, value: str | Sequence[str], ttl: int = DEFAULT_TTL) -> Record:
        """A TXT record from its text (cut into 255-byte strings for you) or from pre-split strings."""
        if isinstance(value, str):
            return cls(name, "TXT", ttl, (value,))
        for index, part in enumerate(value, start=1):
            size = len(part.encode("utf-8"))
            if size > TXT_STRING_MAX:
                raise ValidationError(
                    f"TXT {name}",
                    f"string {index} of {len(value)} is {size} bytes; one TXT string holds at most {TXT_STRING_MAX} "
                    "(pass the whole text as one value to have it split, or split it yourself)",
                )
        return cls(name, "TXT", ttl, ("".join(value),))

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.type)

    def same_data(self, other: Record | None) -> bool:
        """Equal TTL and values (the identity ``key`` is assumed equal)."""
        return other is not None and self.ttl == other.ttl and self.values == other.values

    def relative_name(self, zone: str) -> str:
        return relative(self.name, zone)

    def describe(self) -> str:
        shown = ", ".join(_short(v) for v in self.values)
        return f"{self.name} {self.type} {self.ttl} {shown}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "values": list(self.values)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        return cls(str(data["name"]), str(data["type"]), int(data["ttl"]), tuple(data["values"]))


def _short(value: str, limit: int = 70) -> str:
    return value if len(value) <= limit else f"{value[: limit - 20]}...{value[-12:]} ({len(value)} bytes)"


def index(records: Iterable[Record]) -> dict[tuple[str, str], Record]:
    """Records by (name, type); two records for one RRset is an error (merge their values instead)."""
    out: dict[tuple[str, str], Record] = {}
    for record in records:
        if record.key in out:
            raise ValidationError(f"{record.type} {record.name}", "given twice: one record per name and type")
        out[record.key] = record
    return out
