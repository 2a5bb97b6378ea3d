"""Inputs that used to be refused only after Vault secrets, a Hostwinds key, a VPS or a Mailu install existed are now
refused by the one validation model (toolkit.tenant_config), which uses the DNS layer's own rules; and a value the
model accepts builds a record set the DNS layer accepts."""

from __future__ import annotations

from typing import Any

import pytest

from dnsrecords.recordset import build_record_set
from fleet.verify import domain_inputs
from toolkit.tenant_config import (
    TenantConfigError,
    check_stack_name,
    parse_tenant_config,
    raw_from_pulumi_config,
)
from vault.keys import generate_dkim_key


def raw(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "tenant_id": "acme",
        "domain": "acme.sandbox.test",
        "dns": {"provider": "rfc2136", "server": "127.0.0.1", "port": 15353, "zone": "sandbox.test",
                "tsig_key_name": "sandbox-key"},
        "dkim_selector": "pm20261125",
    }
    values.update(overrides)
    return values


def problems_of(values: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(TenantConfigError) as caught:
        parse_tenant_config(values)
    return dict(caught.value.problems)


def includes(count: int) -> list[str]:
    return [f"_spf{i}.example.com" for i in range(count)]


BAD = [
    ("spf_includes", includes(11), "pm:spf_includes", "needs 11 DNS lookups; SPF allows at most 10"),
    ("dmarc_rua", "dmarc@acme.sandbox.test; p=reject", "pm:dmarc_rua", "give one address such as"),
    ("dmarc_rua", "dmarc team@acme.sandbox.test", "pm:dmarc_rua", "must be an e-mail address"),
    ("dmarc_rua", "dmarc;x@acme.sandbox.test", "pm:dmarc_rua", "no spaces, ';' or ','"),
    ("dmarc_rua", "a@acme.sandbox.test,b@acme.sandbox.test", "pm:dmarc_rua", "give one address such as"),
    ("dmarc_rua", "dmarc@acme sandbox.test", "pm:dmarc_rua", "letters, digits"),
]


@pytest.mark.parametrize(("key", "value", "named", "fragment"), BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_value_is_refused_with_its_key(key: str, value: Any, named: str, fragment: str) -> None:
    found = problems_of(raw(**{key: value}))
    assert named in found, found
    assert fragment in found[named], found[named]


@pytest.mark.parametrize("zone", ["other.test", "sandbox.test.evil", "cme.sandbox.test", "x.acme.sandbox.test"])
def test_a_zone_that_does_not_contain_the_domain_is_refused(zone: str) -> None:
    found = problems_of(raw(dns={**raw()["dns"], "zone": zone}))
    assert "does not contain the domain 'acme.sandbox.test'" in found["pm:dns"], found
    assert "set `zone`" in found["pm:dns"]


@pytest.mark.parametrize("zone", ["sandbox.test", "acme.sandbox.test", "Sandbox.Test."])
def test_the_domain_or_a_parent_is_a_good_zone(zone: str) -> None:
    assert parse_tenant_config(raw(dns={**raw()["dns"], "zone": zone})).dns.zone == zone


def test_every_problem_is_reported_at_once() -> None:
    found = problems_of(raw(spf_includes=includes(12), dmarc_rua="x;y@acme.sandbox.test",
                            dns={**raw()["dns"], "zone": "other.test"}))
    assert set(found) >= {"pm:spf_includes", "pm:dmarc_rua", "pm:dns"}


def test_what_the_model_accepts_the_dns_layer_builds() -> None:
    config = parse_tenant_config(raw(spf_includes=includes(10), dmarc_rua="mailto:dmarc+reports@acme.sandbox.test"))
    assert config.dmarc_rua == "mailto:dmarc+reports@acme.sandbox.test"
    key = generate_dkim_key(1024)
    records = build_record_set(domain_inputs(config, mail_ip="192.0.2.10", dkim_public_key=key.public_key))
    spf = next(r for r in records if r.type == "TXT" and r.name == "acme.sandbox.test")
    assert spf.values[0].count("include:") == 10


# --- the values Pulumi hands the program -------------------------------------------------------------------------

def test_pulumi_values_are_parsed_json_for_maps_and_lists() -> None:
    values = {"pm:domain": "acme.sandbox.test", "pm:dns": '{"provider": "manual", "zone": "sandbox.test"}',
              "pm:spf_includes": '["_spf.example.com"]', "aws:region": "", "pm": "ignored"}
    assert raw_from_pulumi_config(values) == {
        "domain": "acme.sandbox.test", "dns": {"provider": "manual", "zone": "sandbox.test"},
        "spf_includes": ["_spf.example.com"],
    }


def test_empty_and_broken_json_values_are_named_with_their_fix() -> None:
    with pytest.raises(TenantConfigError) as caught:
        raw_from_pulumi_config({"pm:domain": "", "pm:dmarc_rua": "  ", "pm:dns": "{provider: rfc2136",
                                "pm:spf_includes": "[a.example.com", "pm:size": "small"})
    found = dict(caught.value.problems)
    assert set(found) == {"pm:domain", "pm:dmarc_rua", "pm:dns", "pm:spf_includes"}
    assert "is empty: give it a value, or delete the line" in found["pm:domain"]
    assert "starts with '{' but is not a valid list or map" in found["pm:dns"]
    assert "write a list or map as YAML under the key" in found["pm:dns"]
    assert "starts with '['" in found["pm:spf_includes"]
    assert str(caught.value).startswith("invalid stack config: pm:domain: is empty")


def test_the_stack_must_be_named_after_the_tenant() -> None:
    config = parse_tenant_config(raw())
    check_stack_name(config, "acme")
    with pytest.raises(TenantConfigError) as caught:
        check_stack_name(config, "mallory")
    message = dict(caught.value.problems)["pm:tenant_id"]
    assert "is 'acme' but the stack is named 'mallory'" in message
    assert "stacks/Pulumi.acme.yaml" in message
