"""The stack-config validation catalogue: each bad value names its key and the problem, all at once."""

from __future__ import annotations

from typing import Any

import pytest

from toolkit.errors import ConfigError
from toolkit.tenant_config import TenantConfigError, config_from_stack_file, parse_tenant_config


def good() -> dict[str, Any]:
    return {
        "tenant_id": "acme",
        "domain": "acme.sandbox.test",
        "dns": {"provider": "rfc2136", "server": "127.0.0.1", "port": 15353, "tsig_key_name": "sandbox-key"},
        "dkim_selector": "pm20261125",
        "hostwinds": {},
    }


def with_(path: str, value: Any) -> dict[str, Any]:
    raw = good()
    target = raw
    *parents, leaf = path.split(".")
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[leaf]
    else:
        target[leaf] = value
    return raw


class _Delete:
    """Marker: remove the key instead of setting it (a stable repr keeps test ids equal across xdist workers)."""

    def __repr__(self) -> str:
        return "<deleted>"


_DELETE = _Delete()

CATALOGUE = [
    ("tenant_id", "../etc", "pm:tenant_id", "no '/', '..'"),
    ("tenant_id", "Acme", "pm:tenant_id", "lower-case"),
    ("tenant_id", "", "pm:tenant_id", "non-empty"),
    ("tenant_id", "a" * 64, "pm:tenant_id", "at most 63"),
    ("tenant_id", "acme*", "pm:tenant_id", "'*'"),
    ("tenant_id", _DELETE, "pm:tenant_id", "is required"),
    ("domain", "bücher.example", "pm:domain", "punycode"),
    ("domain", "localhost", "pm:domain", "at least two labels"),
    ("domain", "a" * 64 + ".example", "pm:domain", "at most 63"),
    ("domain", "exa_mple.com", "pm:domain", "letters, digits"),
    ("domain", "10.0.0.1", "pm:domain", "IP address"),
    ("size", "huge", "pm:size", "'small', 'medium' or 'large'"),
    ("ttl", 5, "pm:ttl", "greater than or equal to 60"),
    ("dmarc_stage", "strict", "pm:dmarc_stage", "'none', 'quarantine' or 'reject'"),
    ("dmarc_rua", "not-an-address", "pm:dmarc_rua", "e-mail address"),
    ("spf_includes", ["_spf.google.com", "bad domain.com"], "pm:spf_includes", "letters, digits"),
    ("ssh_key_type", "dsa", "pm:ssh_key_type", "'rsa4096' or 'ed25519'"),
    ("dkim_selector", "Bad_Selector", "pm:dkim_selector", "lower-case"),
    ("hostwinds.poll_interval", 0, "pm:hostwinds.poll_interval", "greater than 0"),
    ("hostwinds.api_url", "ftp://x", "pm:hostwinds.api_url", "http(s)://"),
    ("ptr_check", "maybe", "pm:ptr_check", "'dns', 'hostwinds' or 'skip'"),
    ("vault_addrs", ["http://127.0.0.1:8200"], "pm:vault_addrs", "VAULT_ADDRS"),  # retired: a connection setting
    ("dns.provider", "route53", "pm:dns.provider", "'rfc2136', 'cloudflare' or 'manual'"),
    ("dns.server", "ns1.example.com", "pm:dns", "must be an IP address"),
    ("dns.tsig_key_name", _DELETE, "pm:dns", "tsig_key_name"),
    ("dns.port", 70000, "pm:dns.port", "less than or equal to 65535"),
    ("colour", "blue", "pm:colour", "not a known setting"),
    ("secrets_generation", 2, "pm:secrets_generation", "not a known setting"),  # day-2 intent, not config
    ("migration", {"copy_from": "old-host"}, "pm:migration.copy_from", "IP address"),
    ("migration", {"copy_from": "127.0.0.1", "mode": "x"}, "pm:migration.mode", "not a known setting"),
]


@pytest.mark.parametrize(
    ("path", "value", "key", "fragment"), CATALOGUE, ids=[f"{c[0]}={c[1]!r}"[:40] for c in CATALOGUE]
)
def test_bad_value_names_key_and_problem(path: str, value: Any, key: str, fragment: str) -> None:
    with pytest.raises(TenantConfigError) as caught:
        parse_tenant_config(with_(path, value))
    keys = [k for k, _ in caught.value.problems]
    assert key in keys, caught.value
    message = dict(caught.value.problems)[key]
    assert fragment in message, message
    assert isinstance(caught.value, ConfigError)


def test_catalogue_is_large_enough() -> None:
    assert len(CATALOGUE) >= 15


def test_all_problems_reported_at_once() -> None:
    raw = with_("ttl", 1)
    raw["tenant_id"] = "UPPER"
    raw["domain"] = "nodots"
    with pytest.raises(TenantConfigError) as caught:
        parse_tenant_config(raw)
    assert {k for k, _ in caught.value.problems} == {"pm:ttl", "pm:tenant_id", "pm:domain"}


def test_good_config_and_derived_names() -> None:
    config = parse_tenant_config(good())
    assert config.mail_host == "mail.acme.sandbox.test"
    assert config.tenant_user == "tenant-acme"
    assert config.dmarc_stage == "none" and config.ttl == 3600 and config.ssh_key_type == "rsa4096"


def test_stack_file_namespace() -> None:
    data = {"config": {f"pm:{k}": v for k, v in good().items()} | {"other:thing": 1}}
    assert config_from_stack_file(data).tenant_id == "acme"


def test_rua_normalised_to_mailto() -> None:
    assert parse_tenant_config(with_("dmarc_rua", "dmarc@acme.sandbox.test")).dmarc_rua == (
        "mailto:dmarc@acme.sandbox.test"
    )
