"""Building the tenant's record set: every record, SPF/DMARC/DKIM shapes, options."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from dnsrecords.dmarc import DmarcPolicy
from dnsrecords.records import Record, txt_strings
from dnsrecords.recordset import MailDomainInputs, build_record_set, dkim_key_value

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_KEY = base64.b64encode(_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()
INPUTS = MailDomainInputs("example.com", "192.0.2.10", "pm20261124", PUBLIC_KEY)


def _by_key(records: list[Record]) -> dict[tuple[str, str], Record]:
    return {r.key: r for r in records}


def test_the_full_set() -> None:
    records = _by_key(build_record_set(INPUTS))
    assert records[("mail.example.com", "A")].values == ("192.0.2.10",)
    assert records[("example.com", "MX")].values == ("10 mail.example.com",)
    assert records[("example.com", "TXT")].values == ("v=spf1 ip4:192.0.2.10 ~all",)
    assert records[("pm20261124._domainkey.example.com", "TXT")].values == (f"v=DKIM1; k=rsa; p={PUBLIC_KEY}",)
    assert records[("_dmarc.example.com", "TXT")].values == ("v=DMARC1; p=none",)
    assert records[("_mta-sts.example.com", "TXT")].values[0].startswith("v=STSv1; id=")
    assert records[("mta-sts.example.com", "A")].values == ("192.0.2.10",)
    assert records[("_smtp._tls.example.com", "TXT")].values == ("v=TLSRPTv1; rua=mailto:postmaster@example.com",)
    assert records[("autoconfig.example.com", "CNAME")].values == ("mail.example.com",)
    assert records[("autodiscover.example.com", "CNAME")].values == ("mail.example.com",)
    assert records[("_submission._tcp.example.com", "SRV")].values == ("0 1 587 mail.example.com",)
    assert records[("_imaps._tcp.example.com", "SRV")].values == ("0 1 993 mail.example.com",)
    assert len(records) == 12
    assert {r.ttl for r in records.values()} == {3600}


def test_ttl_is_configurable() -> None:
    assert {r.ttl for r in build_record_set(replace(INPUTS, ttl=300))} == {300}


def test_dkim_record_of_a_2048_bit_key_is_split_into_255_byte_strings() -> None:
    dkim = _by_key(build_record_set(INPUTS))[("pm20261124._domainkey.example.com", "TXT")]
    strings = txt_strings(dkim.values[0])
    assert len(strings) == 2
    assert all(len(s) <= 255 for s in strings)


def test_spf_includes_are_appended_before_all() -> None:
    records = _by_key(build_record_set(replace(INPUTS, spf_includes=("_spf.relay.example", "spf.other.example"))))
    assert records[("example.com", "TXT")].values == (
        "v=spf1 ip4:192.0.2.10 include:_spf.relay.example include:spf.other.example ~all",)


@pytest.mark.parametrize("policy, text", [
    (DmarcPolicy("none"), "v=DMARC1; p=none"),
    (DmarcPolicy("quarantine", rua="dmarc@example.com"),
     "v=DMARC1; p=quarantine; pct=10; rua=mailto:dmarc@example.com"),
    (DmarcPolicy("quarantine", pct=50), "v=DMARC1; p=quarantine; pct=50"),
    (DmarcPolicy("reject", rua="mailto:d@example.com"), "v=DMARC1; p=reject; rua=mailto:d@example.com"),
])
def test_dmarc_stages(policy: DmarcPolicy, text: str) -> None:
    records = _by_key(build_record_set(replace(INPUTS, dmarc=policy)))
    assert records[("_dmarc.example.com", "TXT")].values == (text,)


def test_tlsrpt_follows_the_dmarc_rua_unless_given() -> None:
    records = _by_key(build_record_set(replace(INPUTS, dmarc=DmarcPolicy("none", rua="d@example.com"))))
    assert records[("_smtp._tls.example.com", "TXT")].values == ("v=TLSRPTv1; rua=mailto:d@example.com",)
    records = _by_key(build_record_set(replace(INPUTS, tlsrpt_rua="tls@example.com")))
    assert records[("_smtp._tls.example.com", "TXT")].values == ("v=TLSRPTv1; rua=mailto:tls@example.com",)


def test_mta_sts_id_changes_with_the_policy_and_can_be_pinned() -> None:
    testing = _by_key(build_record_set(INPUTS))[("_mta-sts.example.com", "TXT")]
    enforce = _by_key(build_record_set(replace(INPUTS, mta_sts_mode="enforce")))[("_mta-sts.example.com", "TXT")]
    assert testing.values != enforce.values
    pinned = _by_key(build_record_set(replace(INPUTS, mta_sts_id="20261124")))
    assert pinned[("_mta-sts.example.com", "TXT")].values == ("v=STSv1; id=20261124",)


def test_client_config_as_a_records_or_off_and_optional_extras() -> None:
    records = _by_key(build_record_set(replace(INPUTS, client_config="a")))
    assert records[("autoconfig.example.com", "A")].values == ("192.0.2.10",)
    minimal = build_record_set(replace(INPUTS, client_config="none", srv=False, mta_sts=False, tlsrpt=False))
    assert {r.key for r in minimal} == {
        ("mail.example.com", "A"), ("example.com", "MX"), ("example.com", "TXT"),
        ("pm20261124._domainkey.example.com", "TXT"), ("_dmarc.example.com", "TXT")}


def test_dkim_key_accepted_as_pem_or_dkim_value_and_ed25519() -> None:
    pem = _KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert dkim_key_value(pem) == f"v=DKIM1; k=rsa; p={PUBLIC_KEY}"
    assert dkim_key_value(f"v=DKIM1; k=rsa; p={PUBLIC_KEY}") == f"v=DKIM1; k=rsa; p={PUBLIC_KEY}"
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    der = ed.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert dkim_key_value(base64.b64encode(der).decode()).startswith("v=DKIM1; k=ed25519; p=")


def test_domain_is_lower_cased_and_trailing_dot_dropped() -> None:
    records = build_record_set(replace(INPUTS, domain="Example.COM."))
    assert all(r.name.endswith("example.com") for r in records)
