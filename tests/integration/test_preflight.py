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
from toolkit.tenant_config import TenantConfig, parse_tenant_config
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
    assert "'windows-95' is not an image Hostwinds offers" in found["pm:image"]
    assert "ubuntu-22.04" in found["pm:image"]
    assert "'99' is not a Hostwinds location id" in found["pm:location"] and "1 (Seattle, WA)" in found["pm:location"]
    assert "plan '9999' is not a Hostwinds plan" in found["pm:hostwinds.plan_id"]


def test_an_image_named_instead_of_its_id_gets_the_id(hw_sim: SimulatorServer, hw_client: HostwindsClient) -> None:
    hw_sim.settings.update({"images": ["0b6e4e6c-ubuntu-2204"]})
    found = dict(preflight.offer_problems(hw_client, _config("acme", image="ubuntu-22.04")))
    assert "'ubuntu-22.04' is not an image Hostwinds offers" in found["pm:image"]
    assert "0b6e4e6c-ubuntu-2204" in found["pm:image"]


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
