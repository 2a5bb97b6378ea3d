"""Path validation catalogue: nothing a caller passes can escape its Vault path."""

from __future__ import annotations

import pytest

from toolkit.errors import ValidationError
from vault import paths

BAD_SEGMENTS = [
    "", "..", ".", "../other", "acme/..", "acme/admin", "/acme", "acme/", "*", "acme*", "ac?me", "+", "a+b",
    "a" * 64, "a" * 500, " acme", "acme ", "ac me", "acme\n", "acme\x00", "acme\t", "ACME", "-acme", "acme-",
    "acmé", "\u0430cme",  # Cyrillic a
    "\uff41cme",  # full-width a
    "acme\u200b",  # zero-width space
    "acme\u202e",  # right-to-left override
    "%2e%2e", "acme%2f", "{{identity.entity.id}}", "acme\\x", None, 42,
]


@pytest.mark.parametrize("bad", BAD_SEGMENTS)
def test_tenant_id_refused_everywhere(bad: object) -> None:
    for build in (paths.admin_ssh, paths.tenant_ssh, paths.smtp_admin, paths.api_key_folder):
        with pytest.raises(ValidationError) as err:
            build(bad)  # type: ignore[arg-type]
        assert "tenant_id" in str(err.value)


# Key ids allow upper case, '-' and '_' and 64 characters; everything else in the catalogue is refused.
KEY_ID_BAD = [b for b in BAD_SEGMENTS if b not in ("ACME", "-acme", "acme-", "a" * 64)]


@pytest.mark.parametrize("bad", [*KEY_ID_BAD, "a" * 65, "k.1", "k/1", "k..1"])
def test_key_id_refused(bad: object) -> None:
    with pytest.raises(ValidationError) as err:
        paths.api_key("acme", bad)  # type: ignore[arg-type]
    assert "key_id" in str(err.value)


@pytest.mark.parametrize("bad", [
    "", "..", "example..com", "example.com/x", "*.example.com", "exa*mple.com", "example", "ex ample.com",
    "exämple.com", "example.com\n", "-example.com", "a" * 64 + ".com", ("a" * 63 + ".") * 4 + "com",
    "127.0.0.1", "example.com/../x", "\u0435xample.com",
])
def test_domain_refused(bad: str) -> None:
    with pytest.raises(ValidationError) as err:
        paths.dkim(bad, "pm20261124")
    assert "domain" in str(err.value)


@pytest.mark.parametrize("bad", ["", "..", "a/b", "*", "PM2026", "pm 2026", "a" * 64, "pm\n", "pm_1", "pm.1"])
def test_selector_refused(bad: str) -> None:
    with pytest.raises(ValidationError) as err:
        paths.dkim("example.com", bad)
    assert "selector" in str(err.value)


def test_good_paths() -> None:
    assert paths.admin_ssh("acme-1").logical == "vps/acme-1/admin_ssh"
    assert paths.tenant_ssh("acme-1").data_api == "vps/data/acme-1/tenant_ssh"
    assert paths.smtp_admin("t1").metadata_api == "smtp/metadata/t1/admin"
    assert paths.api_key("t1", "abc_DEF-1").logical == "api_keys/t1/abc_DEF-1"
    assert paths.api_key_index("abc").logical == "api_keys/_index/abc"
    assert paths.dkim("Mail.Example.COM.", "pm20261124").logical == "dkim/mail.example.com/pm20261124"
    assert paths.ssh_key("a" * 63, "tenant_ssh").path == "a" * 63 + "/tenant_ssh"


def test_index_folder_is_outside_the_tenant_id_space() -> None:
    with pytest.raises(ValidationError):
        paths.smtp_admin(paths.API_KEY_INDEX)


def test_unknown_ssh_kind_and_mount() -> None:
    with pytest.raises(ValueError):
        paths.ssh_key("acme", "root_ssh")
    with pytest.raises(ValueError):
        paths.SecretPath("secret", "x")
