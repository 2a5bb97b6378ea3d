"""MailuConfig: validation names the field, derived values, digest stability."""

from __future__ import annotations

import pytest

from mailu.config import MAILU_VERSION, MailuConfig
from toolkit.errors import ValidationError
from toolkit.tenant_config import parse_tenant_config


def test_defaults_follow_the_domain() -> None:
    config = MailuConfig(domain="Acme.Example")
    assert config.domain == "acme.example"
    assert config.hostnames == ("mail.acme.example",)
    assert config.admin_email == "admin@acme.example"
    assert config.dkim_key_path == "/mailu/dkim/acme.example.dkim.key"
    assert config.resolver_address == "192.168.203.254"
    assert config.version == MAILU_VERSION == "2024.06.57"


def test_services_follow_optional_features() -> None:
    base = ("redis", "front", "resolver", "admin", "imap", "smtp", "antispam")
    assert MailuConfig(domain="a.example", webmail="none").services() == base
    assert MailuConfig(domain="a.example", antivirus=True).services() == (*base, "antivirus", "webmail")


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("domain", "not a domain", "mailu.domain"),
        ("hostnames", ("bad host",), "mailu.hostnames"),
        ("postmaster", "Post Master", "mailu.postmaster"),
        ("tls_flavor", "selfsigned", "mailu.tls_flavor"),
        ("dkim_selector", "Bad_Selector", "mailu.dkim_selector"),
        ("subnet", "8.8.8.0/24", "mailu.subnet"),
        ("subnet", "192.168.1.1/24", "mailu.subnet"),
        ("message_size_limit", 10, "mailu.message_size_limit"),
        ("webmail", "squirrel", "mailu.webmail"),
        ("version", "latest", "mailu.version"),
        ("bind_address", "::1", "mailu.bind_address"),
        ("extra_env", (("SECRET_KEY", "x"),), "mailu.extra_env.SECRET_KEY"),
        ("extra_env", (("lower", "x"),), "mailu.extra_env"),
    ],
)
def test_invalid_values_name_their_field(field: str, value: object, named: str) -> None:
    with pytest.raises(ValidationError) as info:
        MailuConfig(**{"domain": "acme.example", field: value})  # type: ignore[arg-type]
    assert info.value.field == named


def test_digest_is_stable_and_sensitive() -> None:
    a = MailuConfig(domain="acme.example")
    assert a.digest() == MailuConfig(domain="acme.example").digest()
    assert a.digest() != MailuConfig(domain="acme.example", message_size_limit=60_000_000).digest()
    assert MailuConfig.from_dict(a.as_dict()) == a


def test_from_dict_rejects_unknown_settings() -> None:
    with pytest.raises(ValidationError, match="unknown settings: colour"):
        MailuConfig.from_dict({"domain": "acme.example", "colour": "red"})


def test_from_tenant_config() -> None:
    tenant = parse_tenant_config({
        "tenant_id": "acme1234corp", "domain": "acme.example", "dkim_selector": "pm20261124",
        "dns": {"provider": "manual"},
    })
    config = MailuConfig.from_tenant_config(tenant, webmail="none")
    assert config.hostnames == ("mail.acme.example",)
    assert config.dkim_selector == "pm20261124"
    assert config.webmail == "none"
