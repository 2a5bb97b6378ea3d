"""Build a tenant's mail record set from its inputs (requirements section 6).

Everything is validated and built in memory first: ``build_record_set`` either returns the complete set or
raises one ``RecordSetError`` listing every problem, so a provider is never called with a partial set.

The set (names relative to the domain):
    mail            A      <ip>
    @               MX     10 mail.<domain>
    @               TXT    v=spf1 ip4:<ip> [include:...] ~all
    <sel>._domainkey TXT   v=DKIM1; k=rsa; p=<base64>            (cut into 255-byte strings)
    _dmarc          TXT    v=DMARC1; p=<stage>[; pct=..][; rua=mailto:..]
    _mta-sts        TXT    v=STSv1; id=<id>        mta-sts  A  <ip>   (policy host)
    _smtp._tls      TXT    v=TLSRPTv1; rua=mailto:..
    autoconfig, autodiscover  CNAME mail.<domain> (or A <ip>)
    _submission._tcp SRV   0 1 587 mail.<domain>     _imaps._tcp  SRV  0 1 993 mail.<domain>

The SRV set comes from the table of served ports (``mailu.ports.SRV_SERVICES``): a service is advertised only if
Mailu serves it, the firewall opens it and the compose file publishes it. The MTA-STS policy text is the one Mailu's
front serves (``mailu.overrides``), so the published id always describes the policy that can be fetched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from dnsrecords.dmarc import DmarcPolicy, mailto
from dnsrecords.records import DEFAULT_TTL, Record, check_ttl
from dnsrecords.spf import build_spf
from mailu.ports import SRV_SERVICES
from toolkit import validate
from toolkit.errors import ConfigError, ValidationError

MX_PRIORITY = 10
SRV_PORTS: dict[str, int] = dict(SRV_SERVICES)
MTA_STS_MAX_AGE = 604_800
MtaStsMode = Literal["testing", "enforce", "none"]
DEFAULT_MTA_STS_MODE: MtaStsMode = "testing"
"""The mode a tenant's MTA-STS policy has (DNS id and the policy Mailu serves are built from the same text)."""
_STS_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")
T = TypeVar("T")


class RecordSetError(ValidationError):
    """One or more inputs of the record set are wrong; ``problems`` lists each (field, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(", ".join(f for f, _ in problems), "; ".join(f"{f}: {m}" for f, m in problems))
        self.args = (f"invalid DNS record inputs: {self.problem}",)


@dataclass(frozen=True)
class MailDomainInputs:
    domain: str
    mail_ip: str
    dkim_selector: str
    dkim_public_key: str  # the p= base64 (DER SubjectPublicKeyInfo), a PEM public key, or a whole DKIM1 value
    dmarc: DmarcPolicy = field(default_factory=DmarcPolicy)
    spf_includes: tuple[str, ...] = ()
    ttl: int = DEFAULT_TTL
    mta_sts_mode: MtaStsMode = DEFAULT_MTA_STS_MODE
    mta_sts_id: str | None = None  # default: derived from the policy text, so it changes when the policy does
    tlsrpt_rua: str | None = None  # default: the DMARC rua, else postmaster@<domain>
    client_config: Literal["cname", "a", "none"] = "cname"
    srv: bool = True
    mta_sts: bool = True
    tlsrpt: bool = True


def mail_host(domain: str) -> str:
    return f"mail.{domain}"


def dkim_key_value(public_key: str, field: str = "dkim_public_key") -> str:
    """``v=DKIM1; k=<rsa|ed25519>; p=<base64>`` from a p= value, a PEM public key or a DKIM1 value."""
    text = public_key.strip()
    if text.startswith("v=DKIM1") or text.startswith("k="):
        tags = dict(part.strip().partition("=")[::2] for part in text.split(";") if "=" in part)
        text = tags.get("p", "")
    if text.startswith("-----BEGIN"):
        if "PRIVATE KEY" in text:
            raise ValidationError(field, "is a private key: pass the public key (the DNS record is public)")
        text = "".join(line for line in text.splitlines() if line and not line.startswith("-----"))
    text = "".join(text.split())
    try:
        der = base64.b64decode(text, validate=True)
        key = serialization.load_der_public_key(der)
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(field, "is not a base64 DER, PEM or DKIM1 public key") from exc
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < 1024:
            raise ValidationError(field, f"RSA key of {key.key_size} bits; DKIM verifiers need at least 1024")
        return f"v=DKIM1; k=rsa; p={text}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"
    raise ValidationError(field, f"{type(key).__name__} keys are not used for DKIM (RSA or Ed25519)")


def mta_sts_host(domain: str) -> str:
    """The policy host (RFC 8461 section 3.3): it needs an A record and a certificate that covers it."""
    return f"mta-sts.{domain}"


def mta_sts_policy(domain: str, mode: str, max_age: int = MTA_STS_MAX_AGE) -> str:
    """The policy file served at https://mta-sts.<domain>/.well-known/mta-sts.txt."""
    return f"version: STSv1\r\nmode: {mode}\r\nmx: {mail_host(domain)}\r\nmax_age: {max_age}\r\n"


def build_record_set(inputs: MailDomainInputs) -> list[Record]:
    """The tenant's complete record set, or ``RecordSetError`` naming every wrong input."""
    problems: list[tuple[str, str]] = []

    def check(fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except ConfigError as exc:
            problems.append((exc.field, exc.problem))
            return None

    domain = check(lambda: validate.domain(inputs.domain, "domain"))
    selector = check(lambda: validate.dkim_selector(inputs.dkim_selector, "dkim_selector"))
    dkim = check(lambda: dkim_key_value(inputs.dkim_public_key))
    spf = check(lambda: build_spf(inputs.mail_ip, inputs.spf_includes))
    ttl_ok = check(lambda: check_ttl(inputs.ttl))
    sts_id = inputs.mta_sts_id
    if sts_id is not None and not _STS_ID.fullmatch(sts_id):
        problems.append(("mta_sts_id", f"{sts_id!r} must be 1..32 letters or digits"))
    rua = None
    if inputs.tlsrpt_rua is not None:
        rua = check(lambda: mailto(inputs.tlsrpt_rua or "", "tlsrpt_rua"))
    if problems or domain is None or selector is None or dkim is None or spf is None or ttl_ok is None:
        raise RecordSetError(problems)

    ttl, ip, host = inputs.ttl, inputs.mail_ip.strip(), mail_host(domain)
    records = [
        Record(host, "A", ttl, (ip,)),
        Record(domain, "MX", ttl, (f"{MX_PRIORITY} {host}",)),
        Record.txt(domain, spf, ttl),
        Record.txt(f"{selector}._domainkey.{domain}", dkim, ttl),
        Record.txt(f"_dmarc.{domain}", inputs.dmarc.text(), ttl),
    ]
    if inputs.mta_sts and inputs.mta_sts_mode != "none":
        policy = mta_sts_policy(domain, inputs.mta_sts_mode)
        sts_id = sts_id or hashlib.sha256(policy.encode()).hexdigest()[:20]
        records += [Record.txt(f"_mta-sts.{domain}", f"v=STSv1; id={sts_id}", ttl),
                    Record(mta_sts_host(domain), "A", ttl, (ip,))]
    if inputs.tlsrpt:
        report_to = rua or inputs.dmarc.rua or f"mailto:postmaster@{domain}"
        records.append(Record.txt(f"_smtp._tls.{domain}", f"v=TLSRPTv1; rua={report_to}", ttl))
    for client in ("autoconfig", "autodiscover"):
        if inputs.client_config == "cname":
            records.append(Record(f"{client}.{domain}", "CNAME", ttl, (host,)))
        elif inputs.client_config == "a":
            records.append(Record(f"{client}.{domain}", "A", ttl, (ip,)))
    if inputs.srv:
        records += [Record(f"_{service}._tcp.{domain}", "SRV", ttl, (f"0 1 {port} {host}",))
                    for service, port in SRV_SERVICES]
    return records

