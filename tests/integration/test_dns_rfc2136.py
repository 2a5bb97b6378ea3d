"""The RFC 2136 provider against the real BIND: create, adopt, update, delete, refusals."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest

from dnsrecords.errors import DnsRefusedError
from dnsrecords.providers.rfc2136 import Rfc2136Provider
from dnsrecords.records import Record
from dnsrecords.recordset import MailDomainInputs, build_record_set
from sandbox.bind import BindServer
from tests.fixtures.dns import DkimKey, rfc2136_for
from toolkit.errors import ValidationError
from toolkit.redact import Secret


def _inputs(zone: str, key: DkimKey, ip: str = "192.0.2.10") -> MailDomainInputs:
    return MailDomainInputs(zone, ip, "pm20261124", key.public_b64)


def test_create_the_full_set_then_read_it_back(rfc2136: Rfc2136Provider, dns_zone: str, dkim_key: DkimKey) -> None:
    records = build_record_set(_inputs(dns_zone, dkim_key))
    report = rfc2136.apply(records)
    assert report.counts() == {"create": len(records)}
    for record in records:
        assert rfc2136.get(record.name, record.type) == record


def test_rerun_adopts_equal_records_without_change(rfc2136: Rfc2136Provider, dns_zone: str,
                                                    dkim_key: DkimKey) -> None:
    records = build_record_set(_inputs(dns_zone, dkim_key))
    rfc2136.apply(records)
    again = rfc2136.apply(records)
    assert not again.changed
    assert again.counts() == {"unchanged": len(records)}


def test_existing_records_published_by_someone_else_are_adopted(
    bind_server: BindServer, dns_zone: str, dkim_key: DkimKey
) -> None:
    records = build_record_set(_inputs(dns_zone, dkim_key))
    rfc2136_for(bind_server, dns_zone).apply(records[:3])  # e.g. published by hand earlier
    report = rfc2136_for(bind_server, dns_zone).apply(records)
    assert len(report.of("unchanged")) == 3
    assert len(report.of("create")) == len(records) - 3


def test_changing_the_ip_moves_a_and_spf(rfc2136: Rfc2136Provider, dns_zone: str, dkim_key: DkimKey) -> None:
    rfc2136.apply(build_record_set(_inputs(dns_zone, dkim_key)))
    report = rfc2136.apply(build_record_set(_inputs(dns_zone, dkim_key, ip="192.0.2.99")))
    updated = {(c.name, c.type) for c in report.of("update")}
    assert updated == {(f"mail.{dns_zone}", "A"), (dns_zone, "TXT"), (f"mta-sts.{dns_zone}", "A")}
    assert rfc2136.get(f"mail.{dns_zone}", "A").values == ("192.0.2.99",)  # type: ignore[union-attr]
    assert rfc2136.get(dns_zone, "TXT").values == ("v=spf1 ip4:192.0.2.99 ~all",)  # type: ignore[union-attr]


def test_update_in_place_replaces_the_whole_rrset(rfc2136: Rfc2136Provider, dns_zone: str) -> None:
    rfc2136.upsert(Record(f"mail.{dns_zone}", "A", 300, ("192.0.2.1", "192.0.2.2")))
    change = rfc2136.upsert(Record(f"mail.{dns_zone}", "A", 600, ("192.0.2.3",)))
    assert change.action == "update"
    assert rfc2136.get(f"mail.{dns_zone}", "A") == Record(f"mail.{dns_zone}", "A", 600, ("192.0.2.3",))


def test_delete_and_records_dropped_from_the_set(rfc2136: Rfc2136Provider, dns_zone: str,
                                                 dkim_key: DkimKey) -> None:
    full = build_record_set(_inputs(dns_zone, dkim_key))
    rfc2136.apply(full)
    smaller = build_record_set(replace(_inputs(dns_zone, dkim_key), srv=False))
    report = rfc2136.apply(smaller, managed_previous=full)
    assert {c.name for c in report.of("delete")} == {f"_submission._tcp.{dns_zone}", f"_imaps._tcp.{dns_zone}"}
    assert rfc2136.get(f"_imaps._tcp.{dns_zone}", "SRV") is None
    assert rfc2136.delete(smaller[0]).action == "delete"
    assert rfc2136.get(smaller[0].name, smaller[0].type) is None
    assert rfc2136.delete(smaller[0]).action == "unchanged"


def test_a_wrong_tsig_secret_is_refused_with_a_typed_error(bind_server: BindServer, dns_zone: str) -> None:
    wrong = Secret(base64.b64encode(b"w" * 32).decode())
    provider = rfc2136_for(bind_server, dns_zone, secret=wrong)
    with pytest.raises(DnsRefusedError, match="rejected TSIG key") as caught:
        provider.upsert(Record(f"mail.{dns_zone}", "A", 300, ("192.0.2.1",)))
    assert wrong.reveal() not in str(caught.value)
    assert bind_server.tsig.secret.reveal() not in str(caught.value)
    assert rfc2136_for(bind_server, dns_zone).get(f"mail.{dns_zone}", "A") is None


def test_an_unknown_key_name_is_refused(bind_server: BindServer, dns_zone: str) -> None:
    provider = rfc2136_for(bind_server, dns_zone)
    provider.settings = provider.settings.replaced(key_name="nobody-key")
    with pytest.raises(DnsRefusedError, match="PeerBadKey"):
        provider.upsert(Record(f"mail.{dns_zone}", "A", 300, ("192.0.2.1",)))


def test_a_zone_the_server_does_not_serve_is_refused(bind_server: BindServer) -> None:
    provider = rfc2136_for(bind_server, "not-served.test")
    with pytest.raises(DnsRefusedError, match="not authoritative"):
        provider.upsert(Record("mail.not-served.test", "A", 300, ("192.0.2.1",)))


def test_one_bad_record_writes_nothing(rfc2136: Rfc2136Provider, dns_zone: str, dkim_key: DkimKey) -> None:
    records = build_record_set(_inputs(dns_zone, dkim_key))
    with pytest.raises(ValidationError, match="not inside the zone"):
        rfc2136.apply([*records, Record("mail.elsewhere.test", "A", 300, ("192.0.2.1",))])
    assert all(rfc2136.get(r.name, r.type) is None for r in records)
