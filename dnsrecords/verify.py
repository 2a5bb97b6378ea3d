"""Verify a published record set by asking the zone's authoritative servers directly (no caching resolver).

Checks, each reported as ok / missing / wrong (or skipped when an input to run it was not given):
- every desired record present and equal on every authoritative server (expected vs found);
- forward-confirmed reverse DNS: ``ptr_lookup(ip)`` names ``mail.<domain>`` and that name's A holds the IP
  (PTR is set through Hostwinds ``set_rdns``; the lookup function may ask the Hostwinds API, its simulator or a
  reverse zone: see ``dns_ptr_lookup``);
- SPF syntax and <= 10 DNS lookups; DMARC syntax;
- DKIM: the public half of the private key (PEM bytes from Vault, in memory) equals the published key, and a
  test message signed with it verifies against the record served by the authoritative server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import dns.exception
import dns.resolver
import dns.reversename

from dnsrecords import dkimcheck, wire
from dnsrecords.dmarc import parse_dmarc
from dnsrecords.errors import DnsRefusedError, DnsTimeoutError
from dnsrecords.records import Record
from dnsrecords.recordset import MailDomainInputs, build_record_set, dkim_key_value, mail_host
from dnsrecords.spf import LOOKUP_LIMIT, TxtResolver, count_lookups
from toolkit.errors import ConfigError, ValidationError

Status = Literal["ok", "missing", "wrong", "skipped"]
Server = tuple[str, int]
PtrLookup = Callable[[str], str | None]


@dataclass(frozen=True)
class Check:
    subject: str
    status: Status
    expected: str = ""
    found: str = ""
    detail: str = ""


@dataclass
class VerifyReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.status in ("ok", "skipped") for c in self.checks)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if c.status in ("missing", "wrong")]


def parse_server(text: str, default_port: int = 53) -> Server:
    """``"127.0.0.1:15353"`` or ``"192.0.2.53"`` -> (address, port)."""
    host, sep, port = text.rpartition(":") if text.count(":") == 1 else ("", "", "")
    address, number = (host, port) if sep else (text, str(default_port))
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError("server", f"{text!r} must be an IP address, optionally with :port") from None
    if not number.isdigit() or not 0 < int(number) < 65536:
        raise ConfigError("server", f"{text!r} has an invalid port")
    return (address, int(number))


def authoritative_servers(zone: str, resolver: dns.resolver.Resolver | None = None) -> list[Server]:
    """The zone's NS hosts resolved to addresses (port 53), found through ``resolver``."""
    res = resolver or dns.resolver.Resolver()
    servers: list[Server] = []
    try:
        for ns in res.resolve(zone, "NS"):
            for a in res.resolve(str(ns.target), "A"):
                servers.append((str(a.address), 53))
    except dns.exception.DNSException as exc:
        raise DnsTimeoutError(f"could not find the authoritative servers of {zone}: {exc}") from exc
    if not servers:
        raise DnsTimeoutError(f"{zone} has no NS records with addresses")
    return servers


def _show(record: Record | None) -> str:
    return "" if record is None else "; ".join(record.values) + f" (ttl {record.ttl})"


def check_record(record: Record, servers: Sequence[Server]) -> Check:
    """The record as each authoritative server serves it, compared with the desired one."""
    subject = f"{record.type} {record.name}"
    for address, port in servers:
        try:
            answer = wire.query(address, port, record.name, record.type)
        except DnsTimeoutError as exc:
            return Check(subject, "missing", _show(record), "", str(exc))
        if not answer.authoritative or answer.rcode not in ("NOERROR", "NXDOMAIN"):
            return Check(subject, "wrong", _show(record), "",
                         f"{answer.server} is not authoritative for it ({answer.rcode})")
        if answer.record is None:
            return Check(subject, "missing", _show(record), "", f"{answer.server}: {answer.rcode}, no data")
        if not record.same_data(answer.record):
            return Check(subject, "wrong", _show(record), _show(answer.record), f"served by {answer.server}")
    return Check(subject, "ok", _show(record), _show(record))


def _txt_values(servers: Sequence[Server], name: str) -> tuple[str, ...]:
    record = wire.authoritative_record(servers[0][0], servers[0][1], name, "TXT")
    return () if record is None else record.values


def _txt_fetch(servers: Sequence[Server]) -> Callable[[str], str | None]:
    def fetch(name: str) -> str | None:
        values = _txt_values(servers, name)
        return values[0] if values else None
    return fetch


def dns_ptr_lookup(servers: Sequence[Server]) -> PtrLookup:
    """A ``ptr_lookup`` that asks the given servers for the reverse zone (e.g. a BIND reverse zone)."""
    def lookup(ip: str) -> str | None:
        name = dns.reversename.from_address(ip).to_text(omit_final_dot=True)
        record = wire.authoritative_record(servers[0][0], servers[0][1], name, "PTR")
        return None if record is None else record.values[0]
    return lookup


def check_fcrdns(ip: str, domain: str, ptr_lookup: PtrLookup, servers: Sequence[Server]) -> Check:
    subject, expected = f"PTR {ip} (forward-confirmed)", mail_host(domain)
    try:
        name = ptr_lookup(ip)
    except (DnsTimeoutError, DnsRefusedError) as exc:
        return Check(subject, "missing", expected, "", str(exc))
    if not name:
        return Check(subject, "missing", expected, "", "no PTR record (set it with Hostwinds set_rdns)")
    name = name.rstrip(".").lower()
    if name != expected:
        return Check(subject, "wrong", expected, name, "PTR must name the mail host")
    forward = wire.authoritative_record(servers[0][0], servers[0][1], name, "A")
    if forward is None or ip not in forward.values:
        return Check(subject, "wrong", expected, name, f"{name} A is {_show(forward) or 'absent'}, not {ip}")
    return Check(subject, "ok", expected, name, f"{name} A {ip} confirms it")


def check_spf(text: str | None, resolve_txt: TxtResolver | None = None) -> Check:
    subject = "SPF syntax and lookups"
    if text is None:
        return Check(subject, "missing", "v=spf1 ...", "")
    try:
        lookups = count_lookups(text, resolve_txt)
    except ValidationError as exc:
        return Check(subject, "wrong", "valid SPF", text, exc.problem)
    scope = "recursive" if resolve_txt else "top-level"
    if lookups > LOOKUP_LIMIT:
        return Check(subject, "wrong", f"<= {LOOKUP_LIMIT} lookups", f"{lookups} lookups", scope)
    return Check(subject, "ok", f"<= {LOOKUP_LIMIT} lookups", f"{lookups} lookups", scope)


def check_dmarc(text: str | None) -> Check:
    subject = "DMARC syntax"
    if text is None:
        return Check(subject, "missing", "v=DMARC1; p=...", "")
    try:
        tags = parse_dmarc(text)
    except ValidationError as exc:
        return Check(subject, "wrong", "valid DMARC", text, exc.problem)
    return Check(subject, "ok", "valid DMARC", f"p={tags['p']}")


def check_dkim(domain: str, selector: str, private_key_pem: bytes, servers: Sequence[Server]) -> Check:
    subject = f"DKIM {selector} signs and verifies"
    try:
        proof = dkimcheck.prove(domain, selector, private_key_pem, _txt_fetch(servers))
    except ValidationError as exc:
        return Check(subject, "wrong", "a usable private key", "", exc.problem)
    status: Status = "ok" if proof.ok else ("missing" if "no TXT" in proof.detail else "wrong")
    return Check(subject, status, "key matches Vault, signature verifies", "", proof.detail)


def verify_mail_domain(
    desired: Sequence[Record],
    servers: Sequence[Server],
    *,
    domain: str,
    mail_ip: str,
    ptr_lookup: PtrLookup | None = None,
    dkim_selector: str | None = None,
    dkim_private_key: bytes | None = None,
    resolve_txt: TxtResolver | None = None,
) -> VerifyReport:
    """Every check above against ``servers`` (the zone's authoritative servers: see ``authoritative_servers``)."""
    if not servers:
        raise ConfigError("servers", "give at least one authoritative server")
    for address, port in servers:  # fail fast on a dead server instead of one timeout per record
        wire.query(address, port, domain, "NS", timeout=3.0)
    report = VerifyReport([check_record(record, servers) for record in desired])
    spf = [v for v in _txt_values(servers, domain) if v.lower().startswith("v=spf1")]
    report.checks.append(check_spf(spf[0] if len(spf) == 1 else None, resolve_txt))
    dmarc = [v for v in _txt_values(servers, f"_dmarc.{domain}") if v.startswith("v=DMARC1")]
    report.checks.append(check_dmarc(dmarc[0] if len(dmarc) == 1 else None))
    if ptr_lookup is None:
        report.checks.append(Check(f"PTR {mail_ip} (forward-confirmed)", "skipped", mail_host(domain), "",
                                   "no PTR lookup given"))
    else:
        report.checks.append(check_fcrdns(mail_ip, domain, ptr_lookup, servers))
    if dkim_selector and dkim_private_key:
        report.checks.append(check_dkim(domain, dkim_selector, dkim_private_key, servers))
    else:
        report.checks.append(Check("DKIM signs and verifies", "skipped", "", "",
                                   "no private key given (pass the key read from Vault)"))
    return report


def check_dkim_published(domain: str, selector: str, servers: Sequence[Server]) -> Check:
    """Without the key from Vault: the selector's record exists and holds a usable DKIM1 public key."""
    name = f"{selector}._domainkey.{domain}"
    subject = f"TXT {name}"
    values = _txt_values(servers, name)
    if not values:
        return Check(subject, "missing", "v=DKIM1; k=...; p=...", "", "no DKIM record for this selector")
    try:
        dkim_key_value(values[0], "dkim")
    except ValidationError as exc:
        return Check(subject, "wrong", "a DKIM1 public key", values[0][:60], exc.problem)
    return Check(subject, "ok", "a DKIM1 public key", values[0][:40] + "...", "key not compared (none given)")


def verify_inputs(
    inputs: MailDomainInputs,
    servers: Sequence[Server],
    *,
    ptr_lookup: PtrLookup | None = None,
    dkim_private_key: bytes | None = None,
    resolve_txt: TxtResolver | None = None,
) -> VerifyReport:
    """Build the expected set from ``inputs`` and verify it. An empty ``dkim_public_key`` is taken from the
    private key when one is given; with neither, the DKIM record is only checked for presence and syntax."""
    public = inputs.dkim_public_key or (
        dkimcheck.public_value_from_private(dkim_private_key) if dkim_private_key else "")
    if public:
        desired = build_record_set(replace(inputs, dkim_public_key=public))
    else:
        built = build_record_set(replace(inputs, dkim_public_key=dkimcheck.throwaway_public_key()))
        desired = [r for r in built if "._domainkey." not in r.name]
    domain = desired[0].name.removeprefix("mail.")  # the set starts with mail.<domain> A
    report = verify_mail_domain(
        desired, servers, domain=domain, mail_ip=inputs.mail_ip.strip(), ptr_lookup=ptr_lookup,
        dkim_selector=inputs.dkim_selector, dkim_private_key=dkim_private_key, resolve_txt=resolve_txt,
    )
    if not public:
        report.checks.insert(len(desired), check_dkim_published(domain, inputs.dkim_selector, servers))
    return report
