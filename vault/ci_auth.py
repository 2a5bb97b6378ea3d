"""Vault login for the CI deployment pipeline through the CI's own identity (OIDC/JWT), no stored secret.

``configure_ci_jwt`` enables the ``jwt`` auth method and a role bound to the pipeline's claims (e.g. GitHub's
``repository`` and ``ref``) whose tokens carry the ``system`` policy (provisioning and rotation, no history
deletion). GitHub Actions presents its job token (``invoke ci.vault-login``); the issuer is verified through OIDC
discovery in production, or against explicit public keys (tests, air-gapped issuers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from toolkit.errors import ConfigError
from vault.client import VaultClient

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
JWT_MOUNT = "jwt"


def configure_ci_jwt(
    client: VaultClient,
    *,
    role: str,
    bound_claims: Mapping[str, str | Sequence[str]],
    oidc_discovery_url: str | None = GITHUB_ISSUER,
    validation_pubkeys: Sequence[str] = (),
    bound_issuer: str | None = None,
    audience: str = "vault",
    policies: Sequence[str] = ("system",),
    token_ttl: int = 3600,
) -> None:
    """Idempotently enable ``auth/jwt`` and write the pipeline's role. ``bound_claims`` must not be empty: a role
    without them would accept every workflow of every repository the issuer signs for."""
    if not bound_claims:
        raise ConfigError("bound_claims", "give at least one claim to bind (e.g. repository=org/repo)")
    if not oidc_discovery_url and not validation_pubkeys:
        raise ConfigError("jwt", "give oidc_discovery_url or validation_pubkeys")
    auths = client.read("sys/auth") or {}
    if f"{JWT_MOUNT}/" not in (auths.get("data") or auths):
        client.write(f"sys/auth/{JWT_MOUNT}", {"type": "jwt"})
    config: dict[str, object] = (
        {"jwt_validation_pubkeys": list(validation_pubkeys)} if validation_pubkeys
        else {"oidc_discovery_url": oidc_discovery_url}
    )
    if bound_issuer:
        config["bound_issuer"] = bound_issuer
    client.write(f"auth/{JWT_MOUNT}/config", config)
    client.write(f"auth/{JWT_MOUNT}/role/{role}", {
        "role_type": "jwt", "user_claim": "sub", "bound_audiences": [audience],
        "bound_claims": {k: v if isinstance(v, str) else list(v) for k, v in bound_claims.items()},
        "token_policies": list(policies), "token_ttl": token_ttl, "token_max_ttl": token_ttl,
    })
