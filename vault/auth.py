"""Identities: tenant tokens bound to a tenant entity, admins with userpass + TOTP, AppRole for the system.

Tenant tokens come from the ``tenant`` token role with entity alias ``tenant-<id>``, bound to the identity entity
named ``<id>``; the entity's name drives the templated ``tenant`` policy, so one policy serves every tenant. The
name is what the system account cannot change: it may create an entity by name, never rename one nor set its
metadata or policies. An alias it could move to another entity is checked before every token (``TenantIdentityError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from toolkit import validate
from toolkit.errors import ValidationError
from toolkit.redact import REDACTOR, Secret
from vault.bootstrap import TENANT_TOKEN_ROLE, TOTP_MOUNT, USERPASS_MOUNT
from vault.client import VaultClient
from vault.errors import VaultAuthError, VaultError

LEGACY_ENTITY_PREFIX = "tenant-"
"""Tenant entities used to be named ``tenant-<id>`` with ``tenant_id`` metadata (which the system could rewrite)."""


class TenantIdentityError(VaultError):
    """A tenant's identity does not look as the toolkit left it (an alias moved, a foreign entity under the name):
    no token is issued until an admin has looked."""


def entity_name(tenant_id: str) -> str:
    """The tenant's identity entity: named by the tenant id itself (the ``tenant`` policy renders its paths from it)."""
    return validate.tenant_id(tenant_id)


def alias_name(tenant_id: str) -> str:
    """The tenant's token-auth entity alias (the ``tenant`` token role accepts only ``tenant-*``)."""
    return f"tenant-{validate.tenant_id(tenant_id)}"


def _token_accessor(client: VaultClient) -> str:
    auths = client.read("sys/auth") or {}
    data = auths.get("data", auths)
    return str(data["token/"]["accessor"])


def _lookup(client: VaultClient, query: dict[str, str]) -> dict[str, Any] | None:
    reply = client.write("identity/lookup/entity", query)
    return dict(reply["data"]) if reply else None


def _check_tenant_entity(entity: Mapping[str, Any], alias: str, accessor: str) -> None:
    """A tenant entity has no policies of its own and no alias but the tenant's token alias: anything else under
    the name (an admin's entity, say) must not receive tenant tokens."""
    foreign = [a.get("name") for a in entity.get("aliases") or []
               if a.get("name") != alias or a.get("mount_accessor") != accessor]
    if entity.get("policies") or foreign:
        raise TenantIdentityError(f"identity entity {entity.get('name')!r} is not a tenant entity (policies "
                                  f"{entity.get('policies') or []}, other aliases {foreign}): choose another tenant "
                                  "id or have an admin check that entity")


def _is_legacy_entity(entity: Mapping[str, Any], tenant: str) -> bool:
    metadata = entity.get("metadata") or {}
    return (entity.get("name") == LEGACY_ENTITY_PREFIX + tenant and metadata.get("tenant_id") == tenant
            and not entity.get("policies"))


def ensure_tenant_entity(client: VaultClient, tenant_id: str) -> str:
    """Create the tenant's identity entity and token-auth alias if missing, check them; returns the entity id.

    Raises ``TenantIdentityError`` when the alias belongs to another entity (moved by someone holding a system
    credential: the tenant's next tokens would read another tenant's secrets) or the name holds a foreign entity.
    An alias on the tenant's entity from before the rename (``tenant-<id>``) is moved to the new one."""
    tenant = validate.tenant_id(tenant_id)
    name, alias = entity_name(tenant), alias_name(tenant)
    client.write("identity/entity", {"name": name})  # creates it; an existing entity is left as it is
    entity = _lookup(client, {"name": name})
    if entity is None:
        raise VaultError(f"identity entity {name} vanished while being created")
    accessor = _token_accessor(client)
    _check_tenant_entity(entity, alias, accessor)
    owner = _lookup(client, {"alias_name": alias, "alias_mount_accessor": accessor})
    if owner is not None and owner.get("id") != entity["id"] and not _is_legacy_entity(owner, tenant):
        raise TenantIdentityError(f"entity alias {alias} is bound to entity {owner.get('name')!r}, not to the "
                                  f"tenant's entity {name!r}: no tenant token is issued until an admin has checked "
                                  "who moved it (identity/entity-alias)")
    if owner is None or owner.get("id") != entity["id"]:
        client.write("identity/entity-alias", {"name": alias, "canonical_id": entity["id"], "mount_accessor": accessor})
    return str(entity["id"])


def issue_tenant_token(client: VaultClient, tenant_id: str, *, ttl: str = "1h") -> Secret:
    """A token for the tenant (policy ``tenant``), bound to its entity. Needs the system or admin policy."""
    ensure_tenant_entity(client, tenant_id)
    reply = client.write(f"auth/token/create/{TENANT_TOKEN_ROLE}",
                         {"entity_alias": alias_name(tenant_id), "ttl": ttl, "policies": ["tenant"]})
    if reply is None:
        raise VaultError("tenant token: empty reply")
    token = Secret(str(reply["auth"]["client_token"]))
    REDACTOR.register(token)
    return token


@dataclass(frozen=True)
class TotpEnrollment:
    """The otpauth:// URL to load into the admin's authenticator app (a secret: show once)."""

    url: Secret
    username: str


def _username(value: str) -> str:
    return validate.key_id(value, field="username")


def create_admin(client: VaultClient, username: str, password: Secret) -> TotpEnrollment:
    """A userpass admin with the ``admin`` policy and a TOTP key in the totp engine."""
    user = _username(username)
    if len(password.reveal()) < 16:
        raise ValidationError("password", "admin passwords must be at least 16 characters")
    client.write(f"auth/{USERPASS_MOUNT}/users/{user}",
                 {"password": password.reveal(), "token_policies": ["admin"], "token_ttl": "1h"})
    reply = client.write(f"{TOTP_MOUNT}/keys/{user}",
                         {"generate": True, "issuer": "pm-mail-infra", "account_name": user, "exported": True})
    if reply is None:
        raise VaultError("totp key creation returned nothing")
    url = Secret(str(reply["data"]["url"]))
    REDACTOR.register(url)
    return TotpEnrollment(url, user)


def admin_login(client: VaultClient, username: str, password: Secret, totp_code: str) -> VaultClient:
    """Log an admin in: userpass password, then the TOTP code checked by the totp engine.

    A wrong code revokes the fresh token at once. (The second factor is checked by this client; a server-side
    login-MFA enforcement is the stronger setup where the server offers it.)"""
    user = _username(username)
    if not (totp_code.isdigit() and len(totp_code) in (6, 8)):
        raise ValidationError("totp_code", "must be 6 or 8 digits")
    try:
        reply = client.call(
            lambda c: c.auth.userpass.login(username=user, password=password.reveal(),
                                            mount_point=USERPASS_MOUNT, use_token=False),
            what=f"userpass login of {user}", _auth=False,
        )
    except VaultError:
        raise VaultAuthError(f"login of {user} failed: wrong user name or password") from None
    session = client.with_token(str(reply["auth"]["client_token"]), manage_token=True)
    try:
        check = session.write(f"{TOTP_MOUNT}/code/{user}", {"code": totp_code})
        valid = bool(check and check["data"].get("valid"))
    except VaultError:
        valid = False  # a replayed code is an HTTP 400
    if not valid:
        session.write("auth/token/revoke-self")
        session.close()
        raise VaultAuthError(f"login of {user} failed: the TOTP code is wrong or was already used")
    return session


def approle_client(client: VaultClient, role_id: str, secret_id: Secret) -> VaultClient:
    """A client for the same nodes authenticated with the system AppRole (re-logins on its own)."""
    REDACTOR.register(secret_id)
    config = replace(client.config, token=None, role_id=role_id, secret_id=secret_id)
    return VaultClient(config)
