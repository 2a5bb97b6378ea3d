"""Attack: with a stolen system credential, retarget a tenant's identity at another tenant (issue 11 item 8b).

The tenant policy used to render its paths from the entity's ``tenant_id`` metadata, and the system policy allowed
``identity/entity`` writes with ``metadata``: a POST naming tenant A's entity rewrote its metadata to tenant B, and
every token of A (existing ones too) read B's secrets until someone noticed. Now the tenant policy keys on the
entity's name, and the system policy allows ``identity/entity`` with ``name`` only. Every attack runs with the real
system AppRole token against a real OpenBao; afterwards tenant A's entity is unchanged and A still reads only A.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from vault import auth, keys, kv, paths
from vault.client import VaultClient
from vault.errors import VaultPermissionDenied


@dataclass(frozen=True)
class Tenants:
    victim: str
    other: str
    victim_entity: str
    other_entity: str
    token_accessor: str


def _tenant() -> str:
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture()
def tenants(vault_system: VaultClient, vault_root: VaultClient) -> Iterator[Tenants]:
    a, b = _tenant(), _tenant()
    for tenant in (a, b):
        keys.store_ssh_keypair(vault_system, tenant, "tenant_ssh", algorithm="ed25519")
    accessor = str((vault_root.read("sys/auth") or {})["data"]["token/"]["accessor"])
    yield Tenants(a, b, auth.ensure_tenant_entity(vault_system, a), auth.ensure_tenant_entity(vault_system, b),
                  accessor)


def _entity(root: VaultClient, entity_id: str) -> dict[str, Any]:
    data = dict((root.read(f"identity/entity/id/{entity_id}") or {})["data"])
    aliases = sorted((a["name"], a["mount_accessor"], a["canonical_id"]) for a in data.get("aliases") or [])
    return {**{key: data.get(key) for key in ("name", "metadata", "policies", "disabled")}, "aliases": aliases}


def _reads_only_its_own(system: VaultClient, tenant: str, other: str) -> None:
    with system.with_token(auth.issue_tenant_token(system, tenant), manage_token=True) as client:
        assert kv.read(client, paths.tenant_ssh(tenant)).data["public_key"]
        with pytest.raises(VaultPermissionDenied):
            kv.read(client, paths.tenant_ssh(other))


def test_system_token_cannot_rewrite_a_tenant_entity(vault_system: VaultClient, vault_root: VaultClient,
                                                      tenants: Tenants) -> None:
    a, b = tenants.victim, tenants.other
    before = _entity(vault_root, tenants.victim_entity)
    with vault_system.with_token(auth.issue_tenant_token(vault_system, a), manage_token=True) as tenant_a:
        attacks: list[Callable[[], object]] = [
            # The reported one: same name, new metadata (the old tenant policy read tenant_id from it).
            lambda: vault_system.write("identity/entity", {"name": a, "metadata": {"tenant_id": b}}),
            lambda: vault_system.write("identity/entity", {"name": a, "policies": ["admin"]}),
            lambda: vault_system.write("identity/entity", {"name": a, "disabled": True}),
            lambda: vault_system.write("identity/entity", {"id": tenants.victim_entity, "name": b}),
            lambda: vault_system.write(f"identity/entity/name/{a}", {"metadata": {"tenant_id": b}}),
            lambda: vault_system.write(f"identity/entity/id/{tenants.victim_entity}", {"name": b}),
            lambda: vault_system.write(f"identity/entity/id/{tenants.victim_entity}", {"policies": ["admin"]}),
            lambda: vault_system.write("identity/entity/merge", {
                "from_entity_ids": [tenants.other_entity], "to_entity_id": tenants.victim_entity}),
            lambda: vault_system.write("identity/group", {
                "name": "g" + uuid.uuid4().hex[:8], "member_entity_ids": [tenants.victim_entity],
                "policies": ["admin"]}),
            lambda: vault_system.delete(f"identity/entity/id/{tenants.victim_entity}"),
        ]
        for attack in attacks:
            with pytest.raises(VaultPermissionDenied, match="permission denied"):
                attack()
        # The victim's live token still reads only its own secrets.
        assert kv.read(tenant_a, paths.tenant_ssh(a)).data["public_key"]
        with pytest.raises(VaultPermissionDenied):
            kv.read(tenant_a, paths.tenant_ssh(b))
    assert _entity(vault_root, tenants.victim_entity) == before
    assert before["name"] == a and not before["policies"]
    _reads_only_its_own(vault_system, a, b)


def test_moved_tenant_alias_gets_no_token(vault_system: VaultClient, vault_root: VaultClient,
                                          tenants: Tenants) -> None:
    """The alias cannot be made create-only in a policy (a POST with an existing name updates it), so the system
    could point ``tenant-A`` at B's entity; the toolkit then refuses to issue A any token rather than B's access."""
    a, b, c = tenants.victim, tenants.other, _tenant()
    keys.store_ssh_keypair(vault_system, c, "tenant_ssh", algorithm="ed25519")
    # OpenBao refuses to move an alias onto an entity that already has one on the mount (b's), but a tenant
    # whose entity has no token alias yet (c: onboarded, never issued a token) is a target.
    reply = vault_system.write("identity/entity", {"name": c})
    assert reply is not None
    alias = {"name": auth.alias_name(a), "mount_accessor": tenants.token_accessor}
    vault_system.write("identity/entity-alias", {**alias, "canonical_id": reply["data"]["id"]})
    try:
        with pytest.raises(auth.TenantIdentityError, match=f"bound to entity '{c}'"):
            auth.issue_tenant_token(vault_system, a)
    finally:  # an admin puts it back (the session's OpenBao is shared)
        vault_root.write("identity/entity-alias", {**alias, "canonical_id": tenants.victim_entity})
    _reads_only_its_own(vault_system, a, c)
    _reads_only_its_own(vault_system, a, b)


def test_tenant_id_naming_a_foreign_entity_gets_no_token(vault_system: VaultClient, vault_root: VaultClient) -> None:
    """An entity that is not a tenant's (here with its own policies) under a tenant id's name is not adopted."""
    name = _tenant()
    vault_root.write("identity/entity", {"name": name, "policies": ["admin"]})
    with pytest.raises(auth.TenantIdentityError, match="not a tenant entity"):
        auth.issue_tenant_token(vault_system, name)


def test_entity_from_before_the_rename_is_migrated(vault_system: VaultClient, vault_root: VaultClient) -> None:
    """A tenant onboarded by the old code (entity ``tenant-<id>`` with metadata) gets its alias moved once."""
    tenant, other = _tenant(), _tenant()
    keys.store_ssh_keypair(vault_system, tenant, "tenant_ssh", algorithm="ed25519")
    keys.store_ssh_keypair(vault_system, other, "tenant_ssh", algorithm="ed25519")
    legacy = vault_root.write("identity/entity", {"name": f"tenant-{tenant}", "metadata": {"tenant_id": tenant}})
    assert legacy is not None
    accessor = str((vault_root.read("sys/auth") or {})["data"]["token/"]["accessor"])
    vault_root.write("identity/entity-alias", {"name": auth.alias_name(tenant), "canonical_id": legacy["data"]["id"],
                                               "mount_accessor": accessor})
    _reads_only_its_own(vault_system, tenant, other)
