"""Verification against the real BIND: ok / missing / wrong per record, FCrDNS, SPF/DMARC, DKIM proof."""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dnsrecords import dkimcheck, verify
from dnsrecords.providers.rfc2136 import Rfc2136Provider
from dnsrecords.records import Record
from dnsrecords.recordset import MailDomainInputs, build_record_set
from sandbox.bind import BindServer
from tests.fixtures.dns import DkimKey

IP = "192.0.2.10"


def _set(zone: str, key: DkimKey) -> list[Record]:
    return build_record_set(MailDomainInputs(zone, IP, "pm20261124", key.public_b64))


def _servers(bind: BindServer) -> list[verify.Server]:
    return [(bind.address, bind.port)]


def _status(report: verify.VerifyReport) -> dict[str, str]:
    return {c.subject: c.status for c in report.checks}


def test_everything_ok_after_publishing(bind_server: BindServer, rfc2136: Rfc2136Provider, reverse_dns: Rfc2136Provider,
                                       dns_zone: str, dkim_key: DkimKey) -> None:
    records = _set(dns_zone, dkim_key)
    rfc2136.apply(records)
    ptr = Record("10.2.0.192.in-addr.arpa", "PTR", 300, (f"mail.{dns_zone}",))
    reverse_dns.upsert(ptr)
    try:
        report = verify.verify_mail_domain(
            records, _servers(bind_server), domain=dns_zone, mail_ip=IP,
            ptr_lookup=verify.dns_ptr_lookup(_servers(bind_server)),
            dkim_selector="pm20261124", dkim_private_key=dkim_key.private_pem,
        )
    finally:
        reverse_dns.delete(ptr)
    assert report.ok, [c for c in report.checks if c.status != "ok"]
    assert all(c.status == "ok" for c in report.checks)
    assert len(report.checks) == len(records) + 4


def test_missing_and_wrong_records_are_reported_with_expected_and_found(
    bind_server: BindServer, rfc2136: Rfc2136Provider, dns_zone: str, dkim_key: DkimKey
) -> None:
    records = _set(dns_zone, dkim_key)
    rfc2136.apply(records)
    rfc2136.delete(Record(f"_dmarc.{dns_zone}", "TXT", 3600, ("v=DMARC1; p=none",)))
    rfc2136.upsert(Record(f"mail.{dns_zone}", "A", 3600, ("192.0.2.66",)))
    report = verify.verify_mail_domain(records, _servers(bind_server), domain=dns_zone, mail_ip=IP)
    status = _status(report)
    assert not report.ok
    assert status[f"TXT _dmarc.{dns_zone}"] == "missing"
    assert status["DMARC syntax"] == "missing"
    wrong = next(c for c in report.checks if c.subject == f"A mail.{dns_zone}")
    assert (wrong.status, wrong.expected, wrong.found) == ("wrong", f"{IP} (ttl 3600)", "192.0.2.66 (ttl 3600)")
    assert status[f"MX {dns_zone}"] == "ok"
    assert status["PTR 192.0.2.10 (forward-confirmed)"] == "skipped"
    assert {c.subject for c in report.problems} == {f"TXT _dmarc.{dns_zone}", "DMARC syntax", f"A mail.{dns_zone}"}


def test_fcrdns_from_a_lookup_function(bind_server: BindServer, rfc2136: Rfc2136Provider, dns_zone: str,
                                       dkim_key: DkimKey) -> None:
    rfc2136.apply(_set(dns_zone, dkim_key))
    servers = _servers(bind_server)
    assert verify.check_fcrdns(IP, dns_zone, lambda ip: f"mail.{dns_zone}.", servers).status == "ok"
    assert verify.check_fcrdns(IP, dns_zone, lambda ip: None, servers).status == "missing"
    assert verify.check_fcrdns(IP, dns_zone, lambda ip: "vps123.hostwinds.example", servers).status == "wrong"
    moved = verify.check_fcrdns("192.0.2.77", dns_zone, lambda ip: f"mail.{dns_zone}", servers)
    assert moved.status == "wrong" and "not 192.0.2.77" in moved.detail


def test_spf_over_the_limit_on_the_server_is_wrong(bind_server: BindServer, rfc2136: Rfc2136Provider,
                                                   dns_zone: str) -> None:
    includes = " ".join(f"include:i{n}.example" for n in range(11))
    rfc2136.upsert(Record.txt(dns_zone, f"v=spf1 {includes} -all"))
    check = verify.check_spf(verify._txt_fetch(_servers(bind_server))(dns_zone))
    assert (check.status, check.found) == ("wrong", "11 lookups")


def test_dkim_proof_signs_and_verifies_against_the_served_record(
    bind_server: BindServer, rfc2136: Rfc2136Provider, dns_zone: str, dkim_key: DkimKey
) -> None:
    rfc2136.apply(_set(dns_zone, dkim_key))
    fetch = verify._txt_fetch(_servers(bind_server))
    proof = dkimcheck.prove(dns_zone, "pm20261124", dkim_key.private_pem, fetch)
    assert proof.ok and proof.keys_match and proof.signature_verifies


def test_dkim_proof_fails_for_another_key_and_a_missing_record(
    bind_server: BindServer, rfc2136: Rfc2136Provider, dns_zone: str, dkim_key: DkimKey
) -> None:
    rfc2136.apply(_set(dns_zone, dkim_key))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    check = verify.check_dkim(dns_zone, "pm20261124", other, _servers(bind_server))
    assert check.status == "wrong" and "differs" in check.detail
    missing = verify.check_dkim(dns_zone, "pm20990101", dkim_key.private_pem, _servers(bind_server))
    assert missing.status == "missing"


def test_a_non_authoritative_server_is_not_trusted(bind_server: BindServer, dkim_key: DkimKey) -> None:
    records = _set("not-served.example", dkim_key)
    check = verify.check_record(records[0], _servers(bind_server))
    assert check.status == "wrong" and "not authoritative" in check.detail


@pytest.mark.parametrize("text, expected", [("127.0.0.1:5353", ("127.0.0.1", 5353)),
                                            ("192.0.2.53", ("192.0.2.53", 53)), ("::1", ("::1", 53))])
def test_parse_server(text: str, expected: verify.Server) -> None:
    assert verify.parse_server(text) == expected


def test_report_ok_ignores_skipped() -> None:
    report = verify.VerifyReport([verify.Check("x", "ok"), verify.Check("y", "skipped")])
    assert report.ok and not report.problems
    assert not replace(report, checks=[verify.Check("z", "wrong")]).ok


def test_verify_inputs_without_a_key_checks_dkim_presence_only(
    bind_server: BindServer, rfc2136: Rfc2136Provider, dns_zone: str, dkim_key: DkimKey
) -> None:
    rfc2136.apply(_set(dns_zone, dkim_key))
    inputs = MailDomainInputs(dns_zone, IP, "pm20261124", "")
    report = verify.verify_inputs(inputs, _servers(bind_server))
    assert report.ok
    dkim = next(c for c in report.checks if c.subject == f"TXT pm20261124._domainkey.{dns_zone}")
    assert dkim.detail == "key not compared (none given)"
    with_key = verify.verify_inputs(inputs, _servers(bind_server), dkim_private_key=dkim_key.private_pem)
    assert with_key.ok and _status(with_key)["DKIM pm20261124 signs and verifies"] == "ok"
    other = verify.verify_inputs(replace(inputs, dkim_selector="pm20990101"), _servers(bind_server))
    assert _status(other)[f"TXT pm20990101._domainkey.{dns_zone}"] == "missing"


def test_a_dead_server_fails_fast_with_a_transient_error(dkim_key: DkimKey) -> None:
    from dnsrecords.errors import DnsTimeoutError
    from toolkit.net import free_port

    with pytest.raises(DnsTimeoutError, match="did not answer"):
        verify.verify_mail_domain(_set("dead.example", dkim_key), [("127.0.0.1", free_port())],
                                  domain="dead.example", mail_ip=IP)
