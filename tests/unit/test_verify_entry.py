"""The one "PTR lookup + verify the tenant" entry point: which PTR source each ``ptr_check`` uses, and the tenant's
Hostwinds client (the stack's API URL, as the provider that set the PTR used)."""

from __future__ import annotations

from typing import Any

import pytest

from fleet.verify import hostwinds_client, ptr_lookup_for
from hostwinds.client import HostwindsClient
from hostwinds.settings import ENV_API_KEY, ENV_API_URL
from toolkit.tenant_config import TenantConfig, parse_tenant_config

SIM = "http://127.0.0.1:18700/cloud/api.php"
ENV = {ENV_API_KEY: "verify-entry-key-0123456789", ENV_API_URL: "http://127.0.0.2:9/cloud/api.php"}


def _config(**extra: Any) -> TenantConfig:
    return parse_tenant_config({
        "tenant_id": "acme", "domain": "acme.sandbox.test", "dkim_selector": "pm20261125",
        "dns": {"provider": "rfc2136", "server": "127.0.0.1", "tsig_key_name": "k"}, **extra})


def test_the_tenant_client_uses_the_stack_url() -> None:
    """dns.check built its client from the environment alone; the stack's ``hostwinds.api_url`` is right (the
    Instance provider, which set the PTR, talks to that endpoint)."""
    client = hostwinds_client(_config(hostwinds={"api_url": SIM}), ENV)
    assert client.settings.url == SIM
    assert hostwinds_client(_config(), ENV).settings.url == ENV[ENV_API_URL]


def test_ptr_source_follows_ptr_check() -> None:
    made: list[str] = []

    def hostwinds() -> HostwindsClient:
        made.append("client")
        return hostwinds_client(_config(), ENV)

    servers = [("127.0.0.1", 53)]
    assert ptr_lookup_for(_config(ptr_check="hostwinds"), "7", servers, hostwinds) is not None
    assert made == ["client"]
    assert ptr_lookup_for(_config(ptr_check="hostwinds"), "", servers, hostwinds) is None  # no instance known
    assert ptr_lookup_for(_config(ptr_check="dns"), "7", servers, hostwinds) is not None
    assert ptr_lookup_for(_config(ptr_check="skip"), "7", servers, hostwinds) is None
    assert made == ["client"]  # the Hostwinds client is made only when the API is the PTR source


def test_a_missing_key_fails_only_where_the_api_is_asked() -> None:
    from toolkit.errors import ConfigError

    def hostwinds() -> HostwindsClient:
        return hostwinds_client(_config(), {})

    assert ptr_lookup_for(_config(ptr_check="dns"), "7", [("127.0.0.1", 53)], hostwinds) is not None
    with pytest.raises(ConfigError, match=ENV_API_KEY):
        ptr_lookup_for(_config(ptr_check="hostwinds"), "7", [("127.0.0.1", 53)], hostwinds)
