from __future__ import annotations

import pytest

from toolkit import validate
from toolkit.errors import ValidationError

BAD_TENANTS = [
    "", "..", "a/b", "../x", "*", "a*", "A", "a b", "-a", "a-", "a" * 64, "tenant\n", "ténant", "a.b", None, 7,
]


@pytest.mark.parametrize("value", BAD_TENANTS)
def test_bad_tenant_ids_are_refused(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        validate.tenant_id(value)
    assert caught.value.field == "tenant_id"


@pytest.mark.parametrize("value", ["a", "acme", "acme-01", "a" * 63])
def test_good_tenant_ids(value: str) -> None:
    assert validate.tenant_id(value) == value


@pytest.mark.parametrize(
    "value", ["", "com", "a..b", "-a.com", "a-.com", "exa mple.com", "ex*.com", "x" * 64 + ".com", "1.2.3.4", "é.com"]
)
def test_bad_domains(value: str) -> None:
    with pytest.raises(ValidationError):
        validate.domain(value)


def test_domain_normalised() -> None:
    assert validate.domain("Mail.Example.COM.") == "mail.example.com"
    assert validate.domain("xn--bcher-kva.example") == "xn--bcher-kva.example"


def test_linux_user_is_prefix_of_tenant() -> None:
    assert validate.linux_tenant_user("acmecorporation") == "tenant-acmecorp"
    assert len(validate.linux_tenant_user("z" * 63)) <= 32


# One DNS name check (toolkit.validate.domain): the record builder and the stack config used to check the same names
# with two grammars. Where they disagreed, these cases say which answer is right.
@pytest.mark.parametrize("name, host, service, owner", [
    ("mail.example.com", True, True, True),
    ("_spf.google.com", False, True, True),
    ("_smtp._tls.example.com", False, True, True),
    ("s1_x._domainkey.example.com", False, True, True),  # inner underscore: DNS allows it outside host names
    ("_spf-.example.com", False, False, False),  # an edge hyphen is never right (the config used to accept it)
    ("*.example.com", False, False, True),  # a wildcard only owns records
    ("1.2.3.4", False, False, False),  # an all-digit top label is an address (owner names used to accept it)
    ("localhost", False, False, False),
])
def test_one_dns_name_grammar(name: str, host: bool, service: bool, owner: bool) -> None:
    checks = {"host": lambda: validate.domain(name),
              "service": lambda: validate.domain(name, allow_service_labels=True),
              "owner": lambda: validate.owner_name(name)}
    for kind, expected in (("host", host), ("service", service), ("owner", owner)):
        try:
            checks[kind]()
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted is expected, (kind, name)


def test_spf_includes_are_checked_alike_in_the_stack_config_and_the_record() -> None:
    from dnsrecords.spf import build_spf
    from toolkit.tenant_config import TenantConfigError, parse_tenant_config

    base = {"tenant_id": "acme", "domain": "acme.sandbox.test", "dkim_selector": "pm20261125", "hostwinds": {},
            "dns": {"provider": "rfc2136", "server": "127.0.0.1", "port": 15353, "tsig_key_name": "sandbox-key"}}
    parse_tenant_config(base)
    for include, ok in (("s1_x.example.net", True), ("_spf-.example.net", False)):
        try:
            parse_tenant_config({**base, "spf_includes": [include]})
            config_ok = True
        except TenantConfigError:
            config_ok = False
        try:
            build_spf("192.0.2.1", [include])
            record_ok = True
        except ValidationError:
            record_ok = False
        assert config_ok is record_ok is ok, include


def test_fully_qualified_message_is_the_same_for_every_kind() -> None:
    for check in (validate.domain, validate.owner_name):
        with pytest.raises(ValidationError, match="must be fully qualified"):
            check("localhost")
