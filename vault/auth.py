"""Identities: tenant tokens bound to a tenant entity, admins with userpass + TOTP, AppRole for the system.

Tenant tokens come from the ``tenant`` token role with entity alias ``tenant-<id>``; the entity's metadata
``tenant_id`` drives the templated ``tenant`` policy, so one policy serves every tenant.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from toolkit import validate
from toolkit.errors import ValidationError
from toolkit.redact import REDACTOR, Secret
from vault.bootstrap import TENANT_TOKEN_ROLE, TOTP_MOUNT, USERPASS_MOUNT
from vault.client import VaultClient
from vault.errors import VaultAuthError, VaultError


def entity_name(tenant_id: str) -> str:
    return f"tenant-{validate.tenant_id(tenant_id)}"


def _token_accessor(client: VaultClient) -> str:
    auths = client.read("sys/auth") or {}
    data = auths.get("data", auths)
    return str(data["token/"]["accessor"])


def ensure_tenant_entity(client: VaultClient, tenant_id: str) -> str:
    """Create (or update) the tenant's identity entity and its token-auth alias; returns the entity id."""
    tenant = validate.tenant_id(tenant_id)
    name = entity_name(tenant)
    reply = client.write("identity/entity", {"name": name, "metadata": {"tenant_id": tenant}})
    if reply is None:  # an existing entity is updated with 204
        found = client.read(f"identity/entity/name/{name}")
        if found is None:
            raise VaultError(f"identity entity {name} vanished while being created")
        reply = found
    entity_id = str(reply["data"]["id"])
    accessor = _token_accessor(client)
    owner = client.write("identity/lookup/entity", {"alias_name": name, "alias_mount_accessor": accessor})
    if owner is None:
        client.write("identity/entity-alias",
                     {"name": name, "canonical_id": entity_id, "mount_accessor": accessor})
    return entity_id


def issue_tenant_token(client: VaultClient, tenant_id: str, *, ttl: str = "1h") -> Secret:
    """A token for the tenant (policy ``tenant``), bound to its entity. Needs the system or admin policy."""
    name = entity_name(tenant_id)
    ensure_tenant_entity(client, tenant_id)
    reply = client.write(f"auth/token/create/{TENANT_TOKEN_ROLE}",
                         {"entity_alias": name, "ttl": ttl, "policies": ["tenant"]})
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
