"""Identities: tenant tokens bound to a tenant entity, admins with userpass + server-enforced TOTP login MFA,
AppRole for the system.

Tenant tokens come from the ``tenant`` token role with entity alias ``tenant-<id>``, bound to the identity entity
named ``<id>``; the entity's name drives the templated ``tenant`` policy, so one policy serves every tenant. The
name is what the system account cannot change: it may create an entity by name, never rename one nor set its
metadata or policies. An alias it could move to another entity is checked before every token (``TenantIdentityError``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from toolkit import validate
from toolkit.errors import ValidationError
from toolkit.redact import REDACTOR, Secret
from vault.bootstrap import TENANT_TOKEN_ROLE, USERPASS_MOUNT, require_admin_mfa, userpass_accessor
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
    """The otpauth:// URL to load into the admin's authenticator app (a secret: show once, to that admin only)."""

    url: Secret
    username: str
    entity_id: str


ADMIN_ENTITY_PREFIX = "admin_"
"""Admin entities are ``admin_<user>``: the underscore keeps them out of the tenant-id namespace."""


class AdminIdentityError(VaultError):
    """The identity an admin's logins resolve to is not a plain admin entity (foreign aliases or policies):
    no TOTP key is enrolled on it until an admin has looked."""


def _username(value: str) -> str:
    return validate.key_id(value, field="username")


def _check_admin_entity(entity: Mapping[str, Any], user: str, accessor: str) -> None:
    foreign = [a.get("name") for a in entity.get("aliases") or []
               if a.get("name") != user or a.get("mount_accessor") != accessor]
    if entity.get("policies") or foreign:
        raise AdminIdentityError(f"identity entity {entity.get('name')!r} for admin {user} is not a plain admin entity "
                                 f"(policies {entity.get('policies') or []}, other aliases {foreign}): check it first")


def _admin_entity(client: VaultClient, user: str, accessor: str) -> str:
    """The identity entity the admin's userpass logins resolve to (created with its alias when missing); it carries
    no policies and no alias but the admin's userpass alias, so the TOTP key is bound to that admin alone."""
    found = client.write("identity/lookup/entity", {"alias_name": user, "alias_mount_accessor": accessor})
    if found is None:
        name = ADMIN_ENTITY_PREFIX + user
        client.write("identity/entity", {"name": name})  # creates it; an existing entity is left as it is
        found = client.write("identity/lookup/entity", {"name": name})
        if found is None:
            raise VaultError(f"identity entity {name} vanished while being created")
        _check_admin_entity(found["data"], user, accessor)
        client.write("identity/entity-alias",
                     {"name": user, "canonical_id": found["data"]["id"], "mount_accessor": accessor})
    else:
        _check_admin_entity(found["data"], user, accessor)
    return str(found["data"]["id"])


def create_admin(client: VaultClient, username: str, password: Secret, *, reset_totp: bool = False) -> TotpEnrollment:
    """A userpass admin (``admin`` policy) enrolled in the server-enforced TOTP login MFA.

    The server generates the TOTP key for the admin's identity entity; the returned URL is the only copy handed
    out. An admin already enrolled keeps the key unless ``reset_totp`` (the old key stops working). Refuses to
    run on a server that does not enforce login MFA on the userpass mount (run the vault bootstrap first)."""
    user = _username(username)
    if len(password.reveal()) < 16:
        raise ValidationError("password", "admin passwords must be at least 16 characters")
    method_id = require_admin_mfa(client)
    entity_id = _admin_entity(client, user, userpass_accessor(client))
    target = {"method_id": method_id, "entity_id": entity_id}
    if reset_totp:
        client.write("identity/mfa/method/totp/admin-destroy", target)
    reply = client.write("identity/mfa/method/totp/admin-generate", target) or {}
    url = (reply.get("data") or {}).get("url")
    if not url:
        raise VaultError(f"admin {user} already has a TOTP key: pass reset_totp=True to replace it "
                         "(the old key stops working)")
    enrollment = TotpEnrollment(Secret(str(url)), user, entity_id)
    REDACTOR.register(enrollment.url)
    client.write(f"auth/{USERPASS_MOUNT}/users/{user}",
                 {"password": password.reveal(), "token_policies": ["admin"], "token_ttl": "1h"})
    return enrollment


def mfa_validation(requirement: Mapping[str, Any], passcode: str) -> dict[str, Any]:
    """The ``sys/mfa/validate`` body answering a login's ``mfa_requirement`` with one TOTP passcode.

    Every enforcement must offer a passcode (TOTP) method; the code goes to the first one of each."""
    request_id = requirement.get("mfa_request_id")
    constraints = requirement.get("mfa_constraints")
    if not request_id or not isinstance(constraints, Mapping) or not constraints:
        raise VaultAuthError("the server's MFA requirement is malformed (no request id or no constraints)")
    payload: dict[str, list[str]] = {}
    for name, constraint in constraints.items():
        options = constraint.get("any") if isinstance(constraint, Mapping) else None
        ids = [str(o["id"]) for o in options or []
               if isinstance(o, Mapping) and o.get("type") == "totp" and o.get("uses_passcode") and o.get("id")]
        if not ids:
            raise VaultAuthError(f"login MFA enforcement {name} offers no TOTP method: the toolkit answers only TOTP")
        payload[ids[0]] = [passcode]
    return {"mfa_request_id": str(request_id), "mfa_payload": payload}


def _login_failure(detail: str) -> str:
    if "maximum totp validation attempts" in detail.lower():
        return "too many wrong TOTP codes: wait for the next code period"
    return "the TOTP code is wrong or was already used"


def admin_login(client: VaultClient, username: str, password: Secret, totp_code: str) -> VaultClient:
    """Log an admin in; the server checks both factors (login MFA, two-phase).

    The userpass login with the password returns only an MFA requirement (no token); ``sys/mfa/validate``
    with the TOTP code turns it into the admin token. A wrong or replayed code is refused by the server. A server
    that hands out a token for the password alone is misconfigured: that token is revoked and the login refused.
    ``client`` only provides the node addresses; its own token plays no part."""
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
    auth: Mapping[str, Any] = reply.get("auth") or {}
    requirement = auth.get("mfa_requirement")
    if not isinstance(requirement, Mapping):
        if auth.get("client_token"):
            with client.with_token(str(auth["client_token"])) as leaked:
                leaked.write("auth/token/revoke-self")
        raise VaultAuthError(f"login of {user} refused: the server does not enforce login MFA on "
                             f"auth/{USERPASS_MOUNT}/ (run the vault bootstrap); the password-only token was revoked")
    body = mfa_validation(requirement, totp_code)
    try:
        validated = client.call(lambda c: c.write_data("sys/mfa/validate", data=body),
                                what=f"MFA validation of {user}", _auth=False)
    except VaultError as exc:
        raise VaultAuthError(f"login of {user} failed: {_login_failure(str(exc))}") from None
    token = (validated.get("auth") or {}).get("client_token") if isinstance(validated, Mapping) else None
    if not token:
        raise VaultAuthError(f"login of {user} failed: MFA validation returned no token")
    return client.with_token(str(token), manage_token=True)


def approle_client(client: VaultClient, role_id: str, secret_id: Secret) -> VaultClient:
    """A client for the same nodes authenticated with the system AppRole (re-logins on its own)."""
    REDACTOR.register(secret_id)
    config = client.config.replaced(token=None, role_id=role_id, secret_id=secret_id)
    return VaultClient(config)
