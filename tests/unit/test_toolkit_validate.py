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
