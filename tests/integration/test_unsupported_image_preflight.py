"""An image the Mailu installer does not support is refused by the preflight, before anything is created: the
Hostwinds simulator offers it (a UUID-like id whose name is CentOS 7), the stack names it, and `preflight.run`
raises naming pm:image with the offered supported ids; no claim is taken in Vault and no VPS exists."""

from __future__ import annotations

import uuid

import pytest

from fleet import preflight
from hostwinds import HostwindsClient
from sandbox.hostwinds_sim.server import SimulatorServer
from tests.fixtures.hostwinds import HW_API_KEY, fast_settings
from toolkit.tenant_config import parse_tenant_config
from vault import claims
from vault.client import VaultClient


def test_an_offered_but_unsupported_image_is_refused_before_anything_is_created(
    vault_system: VaultClient, hw_sim: SimulatorServer, hw_client: HostwindsClient,
) -> None:
    hw_sim.settings.update({"images": ["centos-7", "debian-12"]})
    tenant = "t" + uuid.uuid4().hex[:10]
    config = parse_tenant_config({
        "tenant_id": tenant, "domain": f"{tenant}.example.com", "image": "centos-7", "dkim_selector": "pm20261125",
        "dns": {"provider": "rfc2136", "server": "127.0.0.1", "zone": "example.com", "tsig_key_name": "k"},
    })
    before = len(hw_client.list_instances())
    with pytest.raises(preflight.PreflightError) as info:
        preflight.run(config, preflight.StackRef("organization", "pm-mail-tenant", tenant, "file:///srv/state"),
                      dry_run=False,
                      env={"HOSTWINDS_API_KEY": HW_API_KEY, "PM_DNS_TSIG_SECRET": "x",
                           "VAULT_ADDR": vault_system.nodes[0]},
                      vault=lambda: vault_system.with_token(vault_system.token),
                      hostwinds=lambda _config, _env: HostwindsClient(fast_settings(hw_sim.url)))
    problems = dict(info.value.problems)
    assert "'centos-7' is not a Debian or Ubuntu image" in problems["pm:image"]
    assert "supports Debian 12, Ubuntu 22.04, Ubuntu 24.04" in problems["pm:image"]
    assert claims.read_tenant_claim(vault_system, tenant) is None
    assert claims.read_domain_claim(vault_system, config.domain) is None
    assert len(hw_client.list_instances()) == before
