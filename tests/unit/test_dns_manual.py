"""The manual provider and the zone file renderer."""

from __future__ import annotations

import io

import dns.zone

from dnsrecords.providers.manual import ManualProvider
from dnsrecords.recordset import MailDomainInputs, build_record_set
from dnsrecords.zonefile import render
from tests.unit.test_dns_recordset import PUBLIC_KEY

RECORDS = build_record_set(MailDomainInputs("example.com", "192.0.2.10", "pm20261124", PUBLIC_KEY))


def test_rendered_fragment_is_a_valid_zone_with_the_same_data() -> None:
    text = render(RECORDS, "example.com")
    header = "$TTL 3600\n@ IN SOA ns.example.com. h.example.com. 1 3600 600 86400 300\n@ IN NS ns.example.com.\n"
    zone = dns.zone.from_text(header + text, origin="example.com.", relativize=False)
    dkim = zone.find_rdataset("pm20261124._domainkey.example.com.", "TXT")
    assert b"".join(next(iter(dkim)).strings).decode() == f"v=DKIM1; k=rsa; p={PUBLIC_KEY}"
    assert all(len(s) <= 255 for s in next(iter(dkim)).strings)
    mx = zone.find_rdataset("example.com.", "MX")
    assert next(iter(mx)).to_text() == "10 mail.example.com."


def test_manual_provider_prints_changes_then_nothing_on_a_rerun() -> None:
    out = io.StringIO()
    provider = ManualProvider("example.com", out)
    report = provider.apply(RECORDS)
    assert report.counts() == {"create": 12}
    assert "$ORIGIN example.com." in out.getvalue()
    assert "mail" in out.getvalue() and "192.0.2.10" in out.getvalue()
    out.truncate(0)
    out.seek(0)
    again = provider.apply(RECORDS)
    assert not again.changed
    assert out.getvalue() == ""
    assert provider.render_zone().count(" IN ") >= 12
