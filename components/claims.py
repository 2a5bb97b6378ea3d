"""``TenantClaims``: a stack's ownership claims (``vault.claims``) as a resource, so ``pulumi destroy`` releases them.

The preflight (``fleet.preflight``) takes the claims before the program registers anything; this resource re-asserts
them on create and update (idempotent: nothing is written when they are held) and records what to release.

- **delete** with ``purge`` (``pm:purge_secrets_on_destroy``) releases the domain claim and the tenant-id claim
  (only if this tenant / this stack still holds them). That needs an admin token, like purging the secrets.
  Without purge the claims stay: the secrets stay in Vault, and nobody else may take the domain or the id.
- **update** after a domain change claims the new domain; with purge it releases the old one (its DKIM keys are
  purged with their resources), without purge the old claim stays with the kept keys.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic

from vault import claims
from vault.client import VaultClient

REPLACE_KEYS = ("tenant_id",)
UPDATE_KEYS = ("domain", "holder", "stack", "purge")


def _assert_claims(client: VaultClient, props: dict[str, Any]) -> None:
    tenant = str(props["tenant_id"])
    claims.claim_tenant(client, tenant, str(props["holder"]), str(props.get("stack") or ""))
    claims.require_claim(client, str(props["domain"]), tenant)


class TenantClaimsProvider(pulumi.dynamic.ResourceProvider):
    serialize_as_secret_always = False  # it captures no secret

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        with VaultClient.from_env() as client:
            _assert_claims(client, props)
        return pulumi.dynamic.CreateResult(f"claims/{props['tenant_id']}", props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        replaces = [key for key in REPLACE_KEYS if olds.get(key) != news.get(key)]
        updates = [key for key in UPDATE_KEYS if olds.get(key) != news.get(key)]
        return pulumi.dynamic.DiffResult(changes=bool(replaces or updates), replaces=replaces,
                                         delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.UpdateResult:
        with VaultClient.from_env() as client:
            _assert_claims(client, news)
            if olds.get("domain") != news.get("domain") and news.get("purge"):
                claims.release_domain(client, str(olds["domain"]), str(news["tenant_id"]))
        return pulumi.dynamic.UpdateResult(news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if not props.get("purge"):
            return  # kept with the kept secrets
        with VaultClient.from_env() as client:
            claims.release_domain(client, str(props["domain"]), str(props["tenant_id"]))
            claims.release_tenant(client, str(props["tenant_id"]), str(props["holder"]))


class TenantClaims(pulumi.dynamic.Resource, module="vault", name="TenantClaims"):
    """The tenant id (held by the stack ``holder``) and the domain (held by the tenant) claimed in Vault."""

    def __init__(self, name: str, *, tenant_id: str, domain: str, holder: str, stack: str, purge: bool,
                 opts: pulumi.ResourceOptions | None = None) -> None:
        props: dict[str, Any] = {"tenant_id": tenant_id, "domain": domain, "holder": holder, "stack": stack,
                                 "purge": purge}
        super().__init__(TenantClaimsProvider(), name, props, opts)
