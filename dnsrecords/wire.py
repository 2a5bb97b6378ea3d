"""Between our ``Record`` and dnspython: rdata conversion and direct (non-recursive) queries to one server."""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset

from dnsrecords.errors import DnsRefusedError, DnsTimeoutError
from dnsrecords.records import Record, txt_strings

_NAME_TYPES = ("CNAME", "NS", "PTR")


def absolute(name: str) -> dns.name.Name:
    return dns.name.from_text(name if name.endswith(".") else name + ".")


def to_rdatas(record: Record) -> list[dns.rdata.Rdata]:
    rdtype = dns.rdatatype.from_text(record.type)
    out: list[dns.rdata.Rdata] = []
    for value in record.values:
        if record.type == "TXT":
            out.append(dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, rdtype, txt_strings(value)))
            continue
        text = value + "." if record.type in (*_NAME_TYPES, "MX", "SRV") else value
        out.append(dns.rdata.from_text(dns.rdataclass.IN, rdtype, text))
    return out


def value_of(rdata: dns.rdata.Rdata) -> str:
    """Our presentation form of one rdata (names without the final dot, TXT strings joined)."""
    kind = dns.rdatatype.to_text(rdata.rdtype)
    if kind == "TXT":
        return b"".join(rdata.strings).decode("ascii", errors="replace")  # type: ignore[attr-defined]
    if kind in ("MX", "SRV", *_NAME_TYPES):
        return str(rdata.to_text()).rstrip(".").lower()
    return str(rdata.to_text())


def record_from_rrset(rrset: dns.rrset.RRset) -> Record:
    name = rrset.name.to_text(omit_final_dot=True).lower()
    return Record(name, dns.rdatatype.to_text(rrset.rdtype), int(rrset.ttl), tuple(value_of(r) for r in rrset))


@dataclass(frozen=True)
class Answer:
    """What one server said about (name, type): its record (None if absent) and whether it was authoritative."""

    server: str
    rcode: str
    authoritative: bool
    record: Record | None
    txt_strings: tuple[tuple[bytes, ...], ...] = ()


def query(server: str, port: int, name: str, rtype: str, timeout: float = 5.0) -> Answer:
    """Ask one server directly (RD off; UDP, TCP when truncated). Raises ``DnsTimeoutError`` on no answer."""
    rdtype = dns.rdatatype.from_text(rtype)
    request = dns.message.make_query(absolute(name), rdtype)
    request.flags &= ~dns.flags.RD
    where = f"{server}:{port}"
    try:
        reply, _ = dns.query.udp_with_fallback(request, server, timeout=timeout, port=port)
    except (dns.exception.Timeout, OSError) as exc:
        raise DnsTimeoutError(f"{where} did not answer {name} {rtype}: {exc}") from exc
    rcode = dns.rcode.to_text(reply.rcode())
    aa = bool(reply.flags & dns.flags.AA)
    if reply.rcode() == dns.rcode.SERVFAIL:
        raise DnsTimeoutError(f"{where} answered SERVFAIL for {name} {rtype}")
    found = None
    strings: tuple[tuple[bytes, ...], ...] = ()
    for rrset in reply.answer:
        if rrset.rdtype == rdtype and rrset.name == request.question[0].name:
            found = record_from_rrset(rrset)
            if rtype == "TXT":
                strings = tuple(tuple(r.strings) for r in rrset)
    return Answer(where, rcode, aa, found, strings)


def authoritative_record(server: str, port: int, name: str, rtype: str, timeout: float = 5.0) -> Record | None:
    """The record as the zone's primary serves it; refuses to trust a non-authoritative answer."""
    answer = query(server, port, name, rtype, timeout)
    if answer.rcode not in ("NOERROR", "NXDOMAIN") or not answer.authoritative:
        raise DnsRefusedError(
            answer.server, answer.rcode,
            f"it is not authoritative for {name} (is the zone served there, and the name inside it?)",
        )
    return answer.record
