"""The catalogue of bad inputs: each one a clear error naming the field, and nothing partial built."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from dnsrecords.dmarc import DmarcPolicy
from dnsrecords.providers.base import DnsProvider
from dnsrecords.records import Record
from dnsrecords.recordset import MailDomainInputs, RecordSetError, build_record_set
from tests import pem
from tests.unit.test_dns_recordset import PUBLIC_KEY
from toolkit.errors import ValidationError

GOOD = MailDomainInputs("example.com", "192.0.2.10", "pm20261124", PUBLIC_KEY)


@pytest.mark.parametrize("change, field, message", [
    ({"domain": "exa mple.com"}, "domain", "only letters, digits and inner hyphens"),
    ({"domain": "example"}, "domain", "at least two labels"),
    ({"domain": "bücher.example"}, "domain", "punycode"),
    ({"domain": "a" * 64 + ".com"}, "domain", "at most 63"),
    ({"domain": ".".join(["abcdefghij"] * 25) + ".com"}, "domain", "at most 253"),
    ({"domain": "-bad.com"}, "domain", "inner hyphens"),
    ({"domain": "192.0.2.1"}, "domain", "IP address"),
    ({"mail_ip": "2001:db8::1"}, "mail_ip", "not an IPv4 address"),
    ({"mail_ip": "192.0.2.300"}, "mail_ip", "not an IPv4 address"),
    ({"mail_ip": "mail.example.com"}, "mail_ip", "not an IPv4 address"),
    ({"dkim_selector": "Bad_Selector"}, "dkim_selector", "lower-case"),
    ({"dkim_public_key": "not base64!"}, "dkim_public_key", "not a base64"),
    ({"dkim_public_key": f"{pem.begin()}\nAAAA\n{pem.end()}"},
     "dkim_public_key", "private key"),
    ({"spf_includes": ("spf.exämple.com",)}, "spf_includes", "punycode"),
    ({"ttl": 0}, "ttl", "1..604800"),
    ({"mta_sts_id": "has-dash"}, "mta_sts_id", "letters or digits"),
    ({"tlsrpt_rua": "not-an-address"}, "tlsrpt_rua", "e-mail address"),
])
def test_bad_input_is_a_clear_error(change: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(RecordSetError) as caught:
        build_record_set(replace(GOOD, **change))  # type: ignore[arg-type]
    assert field in caught.value.field
    assert message in str(caught.value)


def test_every_problem_is_reported_at_once() -> None:
    bad = replace(GOOD, domain="bücher.de", mail_ip="::1", dkim_selector="UPPER")
    with pytest.raises(RecordSetError) as caught:
        build_record_set(bad)
    assert [f for f, _ in caught.value.problems] == ["domain", "dkim_selector", "mail_ip"]


def test_dmarc_inputs_are_checked() -> None:
    with pytest.raises(ValidationError, match="dmarc_stage"):
        DmarcPolicy("monitor")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="dmarc_pct"):
        DmarcPolicy("quarantine", pct=101)
    with pytest.raises(ValidationError, match="dmarc_rua"):
        DmarcPolicy("none", rua="mailto:nobody")


@pytest.mark.parametrize("rtype, value, message", [
    ("A", "2001:db8::1", "is an IPv6 address"),
    ("A", "10.0.0", "not an IPv4 address"),
    ("MX", "mail.example.com", "'<priority> <host>'"),
    ("MX", "70000 mail.example.com", "0..65535"),
    ("SRV", "0 1 mail.example.com", "'<priority> <weight> <port> <target>'"),
    ("CNAME", "under_score.example.com", "letters, digits"),
    ("TXT", "tab\there", "printable ASCII"),
    ("TXT", "", "must not be empty"),
    ("TXT", "x" * 5000, "at most 4000"),
    ("HINFO", "x", "not supported"),
])
def test_bad_record_values(rtype: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Record("x.example.com", rtype, 300, (value,))


@pytest.mark.parametrize("name, message", [
    ("naïve.example.com", "punycode"),
    ("x" * 64 + ".example.com", "at most 63"),
    ("localhost", "fully qualified"),
    ("a..example.com", "empty label"),
    ("bad label.example.com", "leading underscore"),
])
def test_bad_owner_names(name: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Record(name, "A", 300, ("192.0.2.1",))


class SpyProvider(DnsProvider):
    """Records every call: a plan that fails validation must make none."""

    name = "spy"

    def __init__(self, zone: str) -> None:
        super().__init__(zone)
        self.calls: list[str] = []

    def get(self, name: str, rtype: str) -> Record | None:
        self.calls.append(f"get {name} {rtype}")
        return None

    def _replace(self, record: Record, previous: Record | None) -> None:
        self.calls.append(f"replace {record.name}")

    def _remove(self, previous: Record) -> None:
        self.calls.append(f"remove {previous.name}")


def _set() -> Sequence[Record]:
    return build_record_set(GOOD)


def test_a_record_outside_the_zone_stops_the_apply_before_any_provider_call() -> None:
    spy = SpyProvider("example.com")
    stray = Record("mail.elsewhere.org", "A", 300, ("192.0.2.1",))
    with pytest.raises(ValidationError, match="not inside the zone"):
        spy.apply([*_set(), stray])
    assert spy.calls == []


def test_duplicate_rrsets_stop_the_apply_before_any_provider_call() -> None:
    spy = SpyProvider("example.com")
    records = list(_set())
    with pytest.raises(ValidationError, match="given twice"):
        spy.apply([*records, records[0]])
    assert spy.calls == []
