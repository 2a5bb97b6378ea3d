"""The Pulumi wrapper under pulumi mocks: one DnsRecord per record, values from outputs, no secret in settings."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest

from components.dns_records import DnsRecordProvider, MailDnsRecords, plain_settings
from dnsrecords.recordset import MailDomainInputs
from tests.unit.test_dns_recordset import PUBLIC_KEY
from toolkit.errors import ConfigError

SETTINGS = {"server": "127.0.0.1", "port": 5353, "zone": "example.com", "tsig_key_name": "k"}


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.created: list[pulumi.runtime.MockResourceArgs] = []
        self.lock = threading.Lock()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        with self.lock:
            self.created.append(args)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[Any, Any], list[tuple[str, str]] | None]:
        return {}, None


@pytest.fixture
def mocks() -> Iterator[Mocks]:
    m = Mocks()
    pulumi.runtime.set_mocks(m, preview=False)
    yield m


def test_one_dns_record_per_record(mocks: Mocks) -> None:
    @pulumi.runtime.test  # type: ignore[misc]
    def program() -> pulumi.Output[Any]:
        ip = pulumi.Output.from_input("192.0.2.10")
        component = MailDnsRecords(
            "acme", inputs=MailDomainInputs("example.com", "", "pm20261124", ""), mail_ip=ip,
            dkim_public_key=pulumi.Output.from_input(PUBLIC_KEY), provider="rfc2136", settings=SETTINGS,
        )
        assert len(component.records) == 12
        return pulumi.Output.all(*[r.record for r in component.records.values()])

    program()
    dns_records = [a for a in mocks.created if "DnsRecord" in a.typ and "MailDnsRecords" not in a.typ]
    assert len(dns_records) == 12
    by_name = {(a.inputs["record"]["name"], a.inputs["record"]["type"]): a.inputs for a in dns_records}
    assert by_name[("mail.example.com", "A")]["record"]["values"] == ["192.0.2.10"]
    assert by_name[("mail.example.com", "A")]["settings"] == SETTINGS
    assert any(a.name == "acme-mail-a" for a in dns_records)


def test_bad_plain_inputs_fail_before_any_resource(mocks: Mocks) -> None:
    with pytest.raises(ConfigError, match="punycode"):
        MailDnsRecords("bad", inputs=MailDomainInputs("bücher.de", "", "s", ""), mail_ip="192.0.2.1",
                       dkim_public_key=PUBLIC_KEY, provider="manual", settings={"zone": "bücher.de"})
    assert not [a for a in mocks.created if "DnsRecord" in a.typ]


def test_settings_refuse_secrets() -> None:
    with pytest.raises(ConfigError, match="secrets go in `credential`"):
        plain_settings({**SETTINGS, "tsig_secret": "oops"})


def test_diff_replaces_on_identity_and_updates_on_data() -> None:
    base = {"provider": "rfc2136", "settings": SETTINGS,
            "record": {"name": "mail.example.com", "type": "A", "ttl": 300, "values": ["192.0.2.1"]}}
    provider = DnsRecordProvider()
    same = provider.diff("id", base, base)
    assert not same.changes
    moved = provider.diff("id", base, {**base, "record": {**base["record"], "values": ["192.0.2.2"]}})
    assert moved.changes and not moved.replaces
    renamed = provider.diff("id", base, {**base, "record": {**base["record"], "name": "mx.example.com"}})
    assert renamed.replaces == ["record.name"]


def test_check_reports_records_outside_the_zone() -> None:
    news = {"provider": "rfc2136", "settings": SETTINGS,
            "record": {"name": "mail.other.org", "type": "A", "ttl": 300, "values": ["192.0.2.1"]}}
    result = DnsRecordProvider().check({}, news)
    assert result.failures and "not inside the zone" in result.failures[0].reason
