"""Ownership claims on a real OpenBao: first claim wins (CAS 0), a domain's parent and sub-domains count, a racing
claimant loses cleanly, the system account can neither overwrite nor delete a claim, a tenant cannot touch them,
and only an admin releases them."""

from __future__ import annotations

import threading
import uuid

import pytest

from vault import auth, claims, kv
from vault.client import VaultClient
from vault.errors import VaultPermissionDenied


def _name(prefix: str = "t") -> str:
    return prefix + uuid.uuid4().hex[:10]


def test_first_claim_wins_and_repeats_write_nothing(vault_system: VaultClient) -> None:
    owner, other = _name(), _name()
    domain = f"{owner}.example.com"
    first = claims.require_claim(vault_system, domain, owner)
    assert (first.domain, first.tenant_id) == (domain, owner)
    path = claims.domain_claim_path(domain)
    assert kv.current_version(vault_system, path) == 1
    assert claims.require_claim(vault_system, domain, owner).tenant_id == owner
    assert kv.current_version(vault_system, path) == 1  # nothing written again

    with pytest.raises(claims.ClaimConflict) as caught:
        claims.require_claim(vault_system, domain, other)
    assert caught.value.field == "domain"
    assert f"{domain} is claimed by tenant {owner!r}" in str(caught.value)
    assert f"claims/domain/{domain}" in str(caught.value)
    assert claims.read_domain_claim(vault_system, domain) == first


def test_parents_and_sub_domains_of_a_claimed_domain_are_refused(vault_system: VaultClient) -> None:
    owner, other = _name(), _name()
    domain = f"{owner}.example.com"
    claims.require_claim(vault_system, domain, owner)
    with pytest.raises(claims.ClaimConflict, match=f"inside {domain}, which tenant '{owner}' claims"):
        claims.require_claim(vault_system, f"mail.{domain}", other)
    shop_owner = _name()
    parent = f"{shop_owner}.example.com"
    claims.require_claim(vault_system, f"shop.{parent}", shop_owner)
    with pytest.raises(claims.ClaimConflict, match=f"shop.{parent} \\(under {parent}\\) is claimed by tenant"):
        claims.check_claim(vault_system, parent, other)
    claims.require_claim(vault_system, f"lists.{domain}", owner)  # the owner may use its own sub-domains
    assert claims.read_domain_claim(vault_system, f"mail.{domain}") is None


def test_racing_claimants_one_wins(vault_system: VaultClient, vault_root: VaultClient) -> None:
    domain = f"{_name('race')}.example.com"
    tenants = [_name() for _ in range(4)]
    won: list[str] = []
    lost: list[str] = []
    start = threading.Barrier(len(tenants))

    def claim(tenant: str) -> None:
        start.wait()
        try:
            claims.require_claim(vault_system, domain, tenant)
            won.append(tenant)
        except claims.ClaimConflict:
            lost.append(tenant)

    threads = [threading.Thread(target=claim, args=(t,)) for t in tenants]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    holder = claims.read_domain_claim(vault_root, domain)
    assert holder is not None and won == [holder.tenant_id] and len(lost) == 3
    assert kv.current_version(vault_root, claims.domain_claim_path(domain)) == 1


def test_tenant_id_claim_binds_one_stack(vault_system: VaultClient) -> None:
    tenant = _name()
    claims.claim_tenant(vault_system, tenant, "org/proj/acme@aaaa", "org/proj/acme")
    claims.claim_tenant(vault_system, tenant, "org/proj/acme@aaaa", "org/proj/acme")
    claims.check_tenant_claim(vault_system, tenant, "org/proj/acme@aaaa")
    with pytest.raises(claims.ClaimConflict) as caught:
        claims.claim_tenant(vault_system, tenant, "org/proj/acme@bbbb", "org/proj/acme")
    assert caught.value.field == "tenant_id"
    assert "already owned by stack 'org/proj/acme'" in str(caught.value)


def test_system_cannot_overwrite_or_delete_a_claim(vault_system: VaultClient) -> None:
    owner = _name()
    domain = f"{owner}.example.com"
    claims.require_claim(vault_system, domain, owner)
    path = claims.domain_claim_path(domain)
    with pytest.raises(VaultPermissionDenied):
        kv.write(vault_system, path, {"tenant_id": "intruder"}, cas=1)
    with pytest.raises(VaultPermissionDenied):
        kv.purge(vault_system, path)
    with pytest.raises(VaultPermissionDenied):
        claims.release_domain(vault_system, domain, owner)
    assert claims.read_domain_claim(vault_system, domain) is not None


def test_a_tenant_token_cannot_read_write_or_delete_claims(vault_system: VaultClient) -> None:
    owner = _name()
    domain = f"{owner}.example.com"
    claims.require_claim(vault_system, domain, owner)
    claims.claim_tenant(vault_system, owner, "org/p/s@x", "org/p/s")
    with vault_system.with_token(auth.issue_tenant_token(vault_system, owner), manage_token=True) as tenant:
        for path in (claims.domain_claim_path(domain), claims.tenant_claim_path(owner),
                     claims.domain_claim_path(f"new-{owner}.example.com")):
            with pytest.raises(VaultPermissionDenied):
                kv.read(tenant, path)
            with pytest.raises(VaultPermissionDenied):
                kv.write(tenant, path, {"tenant_id": owner}, cas=0)
            with pytest.raises(VaultPermissionDenied):
                kv.purge(tenant, path)
    assert claims.read_domain_claim(vault_system, domain) is not None


def test_only_the_holder_is_released_by_an_admin(vault_system: VaultClient, vault_root: VaultClient) -> None:
    owner, other = _name(), _name()
    domain = f"{owner}.example.com"
    claims.require_claim(vault_system, domain, owner)
    claims.claim_tenant(vault_system, owner, "org/p/s@x", "org/p/s")
    assert claims.release_domain(vault_root, domain, other) is False
    assert claims.release_tenant(vault_root, owner, "org/p/s@y") is False
    assert claims.release_domain(vault_root, domain, owner) is True
    assert claims.release_tenant(vault_root, owner, "org/p/s@x") is True
    assert claims.read_domain_claim(vault_root, domain) is None
    assert claims.read_tenant_claim(vault_root, owner) is None
    assert claims.require_claim(vault_system, domain, other).tenant_id == other  # free again
