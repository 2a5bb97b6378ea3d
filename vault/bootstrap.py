"""Idempotent setup of a Vault/OpenBao server for the toolkit (needs an admin or root token).

Enables the four KV v2 mounts (with a long version history), transit with the ``smtp-admin`` key and the
``apikey-records`` HMAC key (integrity tags of API-key records, see vault.apikey_records),
writes the admin/system/tenant policies from ``vault/policies/*.hcl``, the AppRole role of the system
account, userpass for admins with server-enforced login MFA (a TOTP method and a login enforcement on the
userpass mount: a password alone never yields a token), and the ``tenant`` token role. Running it again
changes nothing. Audit devices cannot be enabled over the API on OpenBao: they are declared in the server
config; ``bootstrap`` reports the ones it finds and warns when there is none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.errors import ConfigError
from toolkit.redact import REDACTOR, Secret
from vault import paths
from vault.apikey_records import TRANSIT_HMAC_KEY as APIKEY_RECORDS_KEY
from vault.client import VaultClient
from vault.errors import SecretNotFound, VaultError
from vault.smtp import TRANSIT_KEY, TRANSIT_MOUNT

log = logging.getLogger(__name__)

POLICY_DIR = Path(__file__).with_name("policies")
POLICIES = ("admin", "system", "tenant")
APPROLE_MOUNT = "approle"
USERPASS_MOUNT = "userpass"
ADMIN_MFA_METHOD = "pm-admin-totp"
"""Name of the login-MFA TOTP method every admin is enrolled in (``identity/mfa/method/totp``)."""
ADMIN_MFA_ENFORCEMENT = "pm-admin-userpass"
"""Login enforcement demanding that method for every login on the userpass mount."""
ADMIN_TOTP_SETTINGS: dict[str, object] = {
    "issuer": "pm-mail-infra", "period": 30, "key_size": 20, "algorithm": "SHA1", "digits": 6,
    "skew": 1, "max_validation_attempts": 5,
}
"""RFC 6238 defaults every authenticator app understands; one period of skew either way; 5 wrong codes per
period lock the admin out until the next period (brute force of a known password stays out of reach)."""
SYSTEM_ROLE = "system"
TENANT_TOKEN_ROLE = "tenant"  # noqa: S105 - a role name, not a secret
KV_MAX_VERSIONS = 100
"""Versions kept per secret (KV v2 defaults to 10, which would drop rotation history after 10 rotations)."""


@dataclass
class BootstrapResult:
    system_role_id: str
    admin_mfa_method_id: str = ""
    changed: list[str] = field(default_factory=list)
    audit_devices: list[str] = field(default_factory=list)


def policy_text(name: str) -> str:
    return (POLICY_DIR / f"{name}.hcl").read_text()


def _mounts(client: VaultClient) -> dict[str, dict[str, object]]:
    reply = client.read("sys/mounts") or {}
    data = reply.get("data", reply)
    return {k.rstrip("/"): v for k, v in data.items() if isinstance(v, dict)}


def _auths(client: VaultClient) -> dict[str, dict[str, object]]:
    reply = client.read("sys/auth") or {}
    data = reply.get("data", reply)
    return {k.rstrip("/"): v for k, v in data.items() if isinstance(v, dict)}


def _ensure_kv(client: VaultClient, result: BootstrapResult, max_versions: int) -> None:
    mounts = _mounts(client)
    for mount in paths.KV_MOUNTS:
        existing = mounts.get(mount)
        if existing is None:
            client.write(f"sys/mounts/{mount}", {"type": "kv", "options": {"version": "2"},
                                                  "description": f"pm toolkit: {mount}"})
            result.changed.append(f"enabled KV v2 at {mount}/")
        else:
            options = existing.get("options") or {}
            version = options.get("version") if isinstance(options, dict) else None
            if existing.get("type") != "kv" or str(version) != "2":
                raise ConfigError(
                    f"vault mount {mount}/",
                    f"exists as type {existing.get('type')!r} version {version!r}; a KV v2 mount is required",
                )
        config = client.read(f"{mount}/config") or {}
        if (config.get("data") or {}).get("max_versions") != max_versions:
            client.write(f"{mount}/config", {"max_versions": max_versions})
            result.changed.append(f"{mount}/ keeps {max_versions} versions")


def _ensure_transit(client: VaultClient, result: BootstrapResult) -> None:
    if TRANSIT_MOUNT not in _mounts(client):
        client.write(f"sys/mounts/{TRANSIT_MOUNT}", {"type": "transit"})
        result.changed.append("enabled transit/")
    wanted: tuple[tuple[str, dict[str, object]], ...] = (
        (TRANSIT_KEY, {"type": "aes256-gcm96"}), (APIKEY_RECORDS_KEY, {"type": "hmac", "key_size": 32}))
    for key, settings in wanted:
        if client.read(f"{TRANSIT_MOUNT}/keys/{key}") is None:
            client.write(f"{TRANSIT_MOUNT}/keys/{key}", settings)
            result.changed.append(f"created transit key {key} ({settings['type']})")


def _ensure_policies(client: VaultClient, result: BootstrapResult) -> None:
    for name in POLICIES:
        text = policy_text(name)
        current = client.read(f"sys/policies/acl/{name}")
        if current is None or (current.get("data") or {}).get("policy") != text:
            client.write(f"sys/policies/acl/{name}", {"policy": text})
            result.changed.append(f"policy {name}")


def _ensure_auth(client: VaultClient, result: BootstrapResult) -> None:
    auths = _auths(client)
    for mount, kind in ((APPROLE_MOUNT, "approle"), (USERPASS_MOUNT, "userpass")):
        if mount not in auths:
            client.write(f"sys/auth/{mount}", {"type": kind})
            result.changed.append(f"enabled auth {kind} at {mount}/")


def admin_mfa_method(client: VaultClient) -> tuple[str, dict[str, object]] | None:
    """The id and settings of the admins' TOTP login-MFA method, or None when bootstrap has not created it."""
    try:
        reply = client.call(lambda c: c.list("identity/mfa/method/totp"), what="list TOTP MFA methods")
    except SecretNotFound:
        return None
    key_info = ((reply or {}).get("data") or {}).get("key_info") or {}
    for method_id, info in key_info.items():
        if isinstance(info, dict) and info.get("name") == ADMIN_MFA_METHOD:
            return str(method_id), info
    return None


def userpass_accessor(client: VaultClient) -> str:
    mount = _auths(client).get(USERPASS_MOUNT)
    if mount is None:
        raise ConfigError(f"vault auth {USERPASS_MOUNT}/", "is not enabled: run the vault bootstrap")
    return str(mount["accessor"])


def _enforcement(client: VaultClient) -> dict[str, object]:
    return (client.read(f"identity/mfa/login-enforcement/{ADMIN_MFA_ENFORCEMENT}") or {}).get("data") or {}


def _enforces(enforcement: dict[str, object], method_id: str, accessor: str) -> bool:
    methods, accessors = enforcement.get("mfa_method_ids") or [], enforcement.get("auth_method_accessors") or []
    return isinstance(methods, list) and isinstance(accessors, list) and method_id in methods and accessor in accessors


def _ensure_admin_mfa(client: VaultClient, result: BootstrapResult) -> None:
    """The TOTP method and the login enforcement that make the server demand a code at every userpass login."""
    wanted = {"method_name": ADMIN_MFA_METHOD, **ADMIN_TOTP_SETTINGS}
    found = admin_mfa_method(client)
    if found is None:
        reply = client.write("identity/mfa/method/totp", wanted) or {}
        method_id = str((reply.get("data") or {}).get("method_id") or "")
        if not method_id:
            raise VaultError("create the admin TOTP MFA method: the reply has no method id")
        result.changed.append(f"login MFA method {ADMIN_MFA_METHOD} (TOTP)")
    else:
        method_id, info = found
        if any(info.get(key) != value for key, value in ADMIN_TOTP_SETTINGS.items()):
            client.write(f"identity/mfa/method/totp/{method_id}", wanted)
            result.changed.append(f"login MFA method {ADMIN_MFA_METHOD} settings")
    accessor = userpass_accessor(client)
    current = _enforcement(client)
    if not _enforces(current, method_id, accessor):
        body: dict[str, object] = {k: v for k, v in current.items()
                                   if k in ("auth_method_types", "identity_group_ids", "identity_entity_ids") and v}
        for key, value in (("mfa_method_ids", method_id), ("auth_method_accessors", accessor)):
            existing = current.get(key)
            body[key] = sorted({*(existing if isinstance(existing, list) else []), value})
        client.write(f"identity/mfa/login-enforcement/{ADMIN_MFA_ENFORCEMENT}", body)
        result.changed.append(f"login MFA enforced on auth/{USERPASS_MOUNT}/ ({ADMIN_MFA_ENFORCEMENT})")
    result.admin_mfa_method_id = method_id


def require_admin_mfa(client: VaultClient) -> str:
    """The admin TOTP method id, after checking the server enforces it on the userpass mount (else ConfigError):
    no admin is created on a server where a password alone would log in."""
    found = admin_mfa_method(client)
    if found is None or not _enforces(_enforcement(client), found[0], userpass_accessor(client)):
        raise ConfigError(
            f"vault login MFA on auth/{USERPASS_MOUNT}/",
            f"the server does not enforce the {ADMIN_MFA_METHOD} TOTP method on admin logins: run the vault bootstrap",
        )
    return found[0]


def _ensure_role(client: VaultClient, path: str, wanted: dict[str, object], result: BootstrapResult) -> None:
    current = (client.read(path) or {}).get("data") or {}
    if any(current.get(k) != v for k, v in wanted.items()):
        client.write(path, wanted)
        result.changed.append(path)


def bootstrap(
    client: VaultClient,
    *,
    system_token_ttl: int = 3600,
    system_token_max_ttl: int = 4 * 3600,
    system_secret_id_ttl: int = 24 * 3600,
    tenant_token_max_ttl: int = 24 * 3600,
    kv_max_versions: int = KV_MAX_VERSIONS,
) -> BootstrapResult:
    """Bring the server to the toolkit's layout; idempotent. Returns the system role id and what changed."""
    result = BootstrapResult(system_role_id="")
    _ensure_kv(client, result, kv_max_versions)
    _ensure_transit(client, result)
    _ensure_policies(client, result)
    _ensure_auth(client, result)
    _ensure_admin_mfa(client, result)
    _ensure_role(client, f"auth/{APPROLE_MOUNT}/role/{SYSTEM_ROLE}", {
        "token_policies": ["system"], "token_ttl": system_token_ttl, "token_max_ttl": system_token_max_ttl,
        "secret_id_ttl": system_secret_id_ttl, "bind_secret_id": True,
    }, result)
    _ensure_role(client, f"auth/token/roles/{TENANT_TOKEN_ROLE}", {
        "allowed_policies": ["tenant"], "orphan": True, "renewable": True,
        "allowed_entity_aliases": ["tenant-*"], "token_explicit_max_ttl": tenant_token_max_ttl,
    }, result)
    role = client.read(f"auth/{APPROLE_MOUNT}/role/{SYSTEM_ROLE}/role-id") or {}
    result.system_role_id = str((role.get("data") or {}).get("role_id", ""))
    audit = client.read("sys/audit") or {}
    result.audit_devices = sorted(k for k, v in (audit.get("data") or audit).items() if isinstance(v, dict))
    if not result.audit_devices:
        log.warning("vault: no audit device is enabled; declare a file audit device in the server config")
    for line in result.changed:
        log.info("vault bootstrap: %s", line)
    return result


def issue_system_secret_id(client: VaultClient, *, wrap_ttl: str | None = None) -> Secret:
    """A new secret id for the system AppRole; with ``wrap_ttl`` the wrapping token instead (hand that over:
    it unwraps once to the secret id)."""
    reply = client.write(f"auth/{APPROLE_MOUNT}/role/{SYSTEM_ROLE}/secret-id", {}, wrap_ttl=wrap_ttl)
    if reply is None:
        raise VaultError("issue system secret id: empty reply")
    value = reply["wrap_info"]["token"] if wrap_ttl else reply["data"]["secret_id"]
    secret = Secret(str(value))
    REDACTOR.register(secret)
    return secret

