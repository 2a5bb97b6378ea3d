"""The program's preflight against the Hostwinds simulator and a real OpenBao: the image, location and plan must be
offered, the tenant id and domain must be free or ours; preview only checks, up claims; a refusal writes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import pytest

from fleet import preflight
from hostwinds import HostwindsClient
from sandbox.hostwinds_sim.server import SimulatorServer
from tests.fixtures.hostwinds import HW_API_KEY, fast_settings
from toolkit.tenant_config import TenantConfig, parse_tenant_config, size_minimums
from vault import claims
from vault.client import VaultClient


def _config(tenant: str, **overrides: Any) -> TenantConfig:
    values: dict[str, Any] = {
        "tenant_id": tenant, "domain": f"{tenant}.example.com",
        "dns": {"provider": "rfc2136", "server": "127.0.0.1", "zone": "example.com", "tsig_key_name": "k"},
        "dkim_selector": "pm20261125",
    }
    values.update(overrides)
    return parse_tenant_config(values)


def _stack(tenant: str, backend: str = "file:///srv/state") -> preflight.StackRef:
    return preflight.StackRef("organization", "pm-mail-tenant", tenant, backend)


def test_offered_image_location_and_plan_pass(hw_client: HostwindsClient) -> None:
    assert preflight.offer_problems(hw_client, _config("acme")) == []


def test_unknown_image_location_and_plan_are_named_with_the_offer(hw_client: HostwindsClient) -> None:
    config = _config("acme", image="windows-95", location="99", hostwinds={"plan_id": "9999"})
    found = dict(preflight.offer_problems(hw_client, config))
    assert "'windows-95' is not an image this Hostwinds account offers" in found["pm:image"]
    assert "Ubuntu 22.04 LTS (id 3b5a6c1e-" in found["pm:image"] and "(get_public_images)" in found["pm:image"]
    assert "Ubuntu 18.04" not in found["pm:image"]  # retired images are not offered
    assert "'99' is not a location" in found["pm:location"] and "Seattle, WA (id 1)" in found["pm:location"]
    assert "'9999' is not an unmanaged plan" in found["pm:hostwinds.plan_id"]
    assert "Unmanaged Linux SSD 2 (rid 53)" in found["pm:hostwinds.plan_id"]
    assert "Managed" not in found["pm:hostwinds.plan_id"].replace("Unmanaged", "")  # managed=0 was asked


def test_readable_names_resolve_to_the_ids(hw_client: HostwindsClient) -> None:
    catalog = hw_client.catalog()
    assert catalog.image("ubuntu-22.04").name == "Ubuntu 22.04 LTS"
    assert catalog.image("Debian 12").id == catalog.image(catalog.image("debian-12").id).id
    assert catalog.location("seattle").id == catalog.location("1").id == "1"
    assert catalog.location("Dallas, TX").id == "2"
    tiers = size_minimums()
    assert [catalog.plan(t, tiers).rid for t in ("small", "medium", "large")] == ["53", "54", "55"]
    assert catalog.plan("52", tiers).name == "Unmanaged Linux SSD 1"
    for config in (_config("acme", location="seattle", image="debian-12", size="large"),
                   _config("acme", hostwinds={"plan_id": "52"})):
        assert preflight.offer_problems(hw_client, config) == []


def test_an_ambiguous_name_and_a_size_no_plan_fits_are_refused(hw_sim: SimulatorServer,
                                                               hw_client: HostwindsClient) -> None:
    found = dict(preflight.offer_problems(hw_client, _config("acme", image="ubuntu")))
    assert "'ubuntu' matches more than one image" in found["pm:image"]
    hw_sim.settings.update({"plans": {"52": {"rid": 52, "name": "Tiny", "cpu": "1", "ram": "1024"}}})
    found = dict(preflight.offer_problems(hw_client, _config("acme", size="medium")))
    assert "no unmanaged plan has the 2 vCPU / 4 GB RAM of size 'medium'" in found["pm:size"]
    assert "set hostwinds.plan_id to one of 52 (Tiny: 1 vCPU, 1024 RAM)" in found["pm:size"]


@pytest.fixture
def run_env(vault_system: VaultClient) -> dict[str, str]:
    return {"HOSTWINDS_API_KEY": HW_API_KEY, "PM_DNS_TSIG_SECRET": "x", "VAULT_ADDR": vault_system.nodes[0]}


def _run(config: TenantConfig, stack: preflight.StackRef, *, dry_run: bool, env: Mapping[str, str],
         vault_system: VaultClient, hw_sim: SimulatorServer) -> None:
    preflight.run(config, stack, dry_run=dry_run, env=env,
                  vault=lambda: vault_system.with_token(vault_system.token),
                  hostwinds=lambda _config, _env: HostwindsClient(fast_settings(hw_sim.url)))


def test_preview_checks_and_up_claims(vault_system: VaultClient, hw_sim: SimulatorServer,
                                      run_env: dict[str, str]) -> None:
    tenant = "t" + uuid.uuid4().hex[:10]
    config = _config(tenant)
    _run(config, _stack(tenant), dry_run=True, env=run_env, vault_system=vault_system, hw_sim=hw_sim)
    assert claims.read_tenant_claim(vault_system, tenant) is None
    assert claims.read_domain_claim(vault_system, config.domain) is None
    _run(config, _stack(tenant), dry_run=False, env=run_env, vault_system=vault_system, hw_sim=hw_sim)
    held = claims.read_tenant_claim(vault_system, tenant)
    assert held is not None and held.holder == _stack(tenant).identity and held.stack == _stack(tenant).name
    domain_claim = claims.read_domain_claim(vault_system, config.domain)
    assert domain_claim is not None and domain_claim.tenant_id == tenant
    _run(config, _stack(tenant), dry_run=False, env=run_env, vault_system=vault_system, hw_sim=hw_sim)  # again: fine


def test_every_problem_in_one_refusal_and_nothing_claimed(vault_system: VaultClient, hw_sim: SimulatorServer,
                                                           run_env: dict[str, str]) -> None:
    victim = "t" + uuid.uuid4().hex[:10]
    _run(_config(victim), _stack(victim), dry_run=False, env=run_env, vault_system=vault_system, hw_sim=hw_sim)
    copy = _config(victim, domain=f"new-{victim}.example.com", location="99")
    with pytest.raises(preflight.PreflightError) as caught:
        _run(copy, _stack("mallory", "file:///elsewhere"), dry_run=False, env=run_env, vault_system=vault_system,
             hw_sim=hw_sim)
    found = dict(caught.value.problems)
    assert set(found) == {"pm:tenant_id", "pm:location"}, found
    assert "the stack is named 'mallory'" in str(caught.value)
    assert f"tenant id {victim!r} is already owned by stack" in str(caught.value)
    assert claims.read_domain_claim(vault_system, copy.domain) is None
